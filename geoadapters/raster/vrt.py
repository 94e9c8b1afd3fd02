"""Bands of several rasters on one grid, stacked as one VRT (held in memory by the caller).

Used for the band assets of a STAC Item (`geoadapters.raster.stac`) and for the frames of a multi-date
scene (`geoadapters.raster.read.Scene`). Each VRT band reads one band of a source and its mask (GDAL's
per-band mask: the source's nodata value, internal mask or alpha), so pixels without data stay so.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from geoadapters.errors import RasterError

if TYPE_CHECKING:  # rasterio stays out of the imports of `geoadapters.raster.stac`
    import rasterio

__all__ = ["Grid", "VrtBand", "grid_of", "one_grid", "stack_vrt"]

_GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32", "int32": "Int32",
               "float32": "Float32", "float64": "Float64"}  # fmt: skip


@dataclass(frozen=True)
class Grid:
    """Size, transform (GDAL's six coefficients, rasterio's order) and CRS (WKT) of a raster."""

    width: int
    height: int
    transform: tuple[float, ...]
    crs: str


@dataclass(frozen=True)
class VrtBand:
    """One band of the stack: `band` (1-based) of the raster at the GDAL path `path`."""

    path: str
    band: int
    description: str
    dtype: str
    nodata: float | None


def grid_of(dataset: "rasterio.DatasetReader") -> Grid:
    """The grid of an open raster."""
    crs = dataset.crs.to_wkt() if dataset.crs else ""
    return Grid(dataset.width, dataset.height, tuple(dataset.transform)[:6], crs)


def one_grid(grids: Iterable[tuple[str, Grid]], what: str) -> Grid:
    """The grid all the named rasters share.

    Raises:
        RasterError: They differ in size, transform or CRS: the message names the first that differs.
    """
    listed = list(grids)
    first_name, first = listed[0]
    for name, grid in listed[1:]:
        if grid != first:
            differs = [
                field
                for field, a, b in (
                    ("size", (first.width, first.height), (grid.width, grid.height)),
                    ("transform", first.transform, grid.transform),
                    ("CRS", first.crs, grid.crs),
                )
                if a != b
            ]
            raise RasterError(
                f"{what} must share one grid: {name} differs from {first_name} in {' and '.join(differs)}; "
                "resample them to one grid (gdalwarp)"
            )
    return first


def stack_vrt(grid: Grid, bands: Sequence[VrtBand]) -> str:
    """The XML of a VRT on `grid` whose bands are `bands`, in order, each with its source's mask."""
    t = grid.transform
    gt = ", ".join(map(str, (t[2], t[0], t[1], t[5], t[3], t[4])))

    def source(band: VrtBand, index: str) -> str:
        return (
            f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(band.path)}</SourceFilename>'
            f"<SourceBand>{index}</SourceBand></SimpleSource>"
        )

    xml = "".join(
        f'<VRTRasterBand dataType="{_GDAL_TYPES.get(b.dtype, "Float32")}" band="{i}">'
        f"<Description>{escape(b.description)}</Description>"
        + ("" if b.nodata is None else f"<NoDataValue>{b.nodata}</NoDataValue>")
        + source(b, str(b.band))
        + f'<MaskBand><VRTRasterBand dataType="Byte">{source(b, f"mask,{b.band}")}</VRTRasterBand></MaskBand>'
        + "</VRTRasterBand>"
        for i, b in enumerate(bands, start=1)
    )
    return (
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}"><SRS>{escape(grid.crs)}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{xml}</VRTDataset>"
    )
