"""Ground area of raster pixels and of the classes of a class map, for projected and geographic CRSs.

In a projected CRS a pixel's area is that of its parallelogram in the map plane, ``|a e - b d|`` of the
transform in the CRS's linear unit, converted to square metres (exact for equal-area projections; UTM
is within about 0.1 % of the ground area near its central meridian). In a geographic CRS (EPSG:4326)
a pixel is a cell between two parallels and two meridians, whose area on the CRS's ellipsoid depends on
its latitude: it is computed per row with the authalic-latitude formula (Snyder, "Map Projections: A
Working Manual", USGS PP 1395, 1987, eq. 3-12), in float64.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geoadapters.errors import RasterError

__all__ = ["AREA_FIELDS", "ClassAreas", "class_areas", "row_pixel_areas", "write_area_table"]

# The columns of an area table.
AREA_FIELDS = ("class", "value", "pixels", "area_m2", "area_ha", "share")

_ROWS_PER_READ = 512


def _radians_per_unit(projjson: Mapping[str, Any]) -> float:
    """Radians in one angular unit of a geographic CRS's axes."""
    axes = projjson.get("coordinate_system", {}).get("axis", [])
    units = set()
    for axis in axes:
        unit = axis.get("unit", "degree")
        units.add(unit if isinstance(unit, str) else unit.get("conversion_factor"))
    if len(units) > 1:
        raise RasterError(f"the CRS's axes have different units ({sorted(map(str, units))}): no pixel area")
    unit = units.pop() if units else "degree"
    if unit == "degree":
        return math.pi / 180
    if isinstance(unit, int | float) and unit > 0:
        return float(unit)
    raise RasterError(f"the CRS's angular unit {unit!r} is not understood: no pixel area")


def _ellipsoid(projjson: Mapping[str, Any]) -> tuple[float, float]:
    """Semi-major axis (m) and first eccentricity of a geographic CRS's ellipsoid."""
    datum = projjson.get("datum") or projjson.get("datum_ensemble") or {}
    ellipsoid = datum.get("ellipsoid", {})
    if "radius" in ellipsoid:
        return float(ellipsoid["radius"]), 0.0
    a = ellipsoid.get("semi_major_axis")
    if not isinstance(a, int | float):
        raise RasterError("the CRS's ellipsoid is not given in metres: no pixel area")
    if "inverse_flattening" in ellipsoid:
        inverse = float(ellipsoid["inverse_flattening"])
        f = 0.0 if inverse == 0 else 1 / inverse
    elif isinstance(ellipsoid.get("semi_minor_axis"), int | float):
        f = 1 - float(ellipsoid["semi_minor_axis"]) / a
    else:
        raise RasterError("the CRS's ellipsoid has no flattening or semi-minor axis: no pixel area")
    return float(a), math.sqrt(f * (2 - f))


def _authalic_q(phi: npt.NDArray[np.float64], e: float) -> npt.NDArray[np.float64]:
    """Snyder's q(φ) / (1 - e²): the area from the equator to φ is a² (1 - e²) q/2 per radian of longitude."""
    s = np.sin(phi)
    if e == 0:
        return 2 * s
    out: npt.NDArray[np.float64] = s / (1 - e**2 * s**2) + np.arctanh(e * s) / e
    return out


def row_pixel_areas(crs: Any, transform: Sequence[float], height: int) -> npt.NDArray[np.float64]:
    """Area in m² of one pixel in each of a raster's rows.

    Args:
        crs: The raster's `rasterio.crs.CRS`.
        transform: Its affine transform (a, b, c, d, e, f), as `rasterio`'s ``Affine``.
        height: Rows.

    Raises:
        RasterError: No CRS, a CRS whose units or ellipsoid are unknown, or a rotated geographic grid.
    """
    if crs is None:
        raise RasterError("the raster has no CRS: pixel areas are unknown")
    a, b, _, d, e, f = (float(v) for v in tuple(transform)[:6])
    if not crs.is_geographic:
        _, metres = crs.linear_units_factor
        return np.full(height, abs(a * e - b * d) * metres**2, np.float64)
    if b != 0 or d != 0:
        raise RasterError("the geographic grid is rotated: pixel areas per row are not defined")
    projjson = crs.to_dict(projjson=True)
    radians = _radians_per_unit(projjson)
    major, ecc = _ellipsoid(projjson)
    edges = np.clip((f + e * np.arange(height + 1, dtype=np.float64)) * radians, -math.pi / 2, math.pi / 2)
    q = _authalic_q(edges, ecc)
    areas: npt.NDArray[np.float64] = major**2 * (1 - ecc**2) * abs(a) * radians * np.abs(np.diff(q)) / 2
    return areas


class ClassAreas:
    """Pixels and ground area of each class of a class map whose rows are added strip by strip.

    Args:
        crs: The map's `rasterio.crs.CRS`.
        transform: Its affine transform.
        height: Its rows.
        classes: Class names in value order; other values (nodata 255, NaN) are not counted.

    Raises:
        RasterError: Pixel areas are unknown (see `row_pixel_areas`).
    """

    def __init__(self, crs: Any, transform: Sequence[float], height: int, classes: Sequence[str]) -> None:
        self.classes = list(classes)
        self._rows = row_pixel_areas(crs, transform, height)
        self.m2 = np.zeros(len(classes), np.float64)
        self.pixels = np.zeros(len(classes), np.int64)

    def add(self, top: int, values: npt.NDArray[Any]) -> None:
        """Count the rows from `top` on (rows, width) of class values."""
        count, k = values.shape[0], len(self.classes)
        valid = np.isfinite(values) & (values >= 0) & (values < k)
        row_index = np.broadcast_to(np.arange(count)[:, None], values.shape)[valid]
        pairs = row_index * k + values[valid].astype(np.int64)
        counts = np.bincount(pairs, minlength=count * k).reshape(count, k)
        self.m2 += self._rows[top : top + count] @ counts
        self.pixels += counts.sum(axis=0)

    def table(self) -> list[dict[str, Any]]:
        """One row per class: name, value, pixels, m², hectares and share of the area with data."""
        total = float(self.m2.sum())
        return [
            {
                "class": name,
                "value": i,
                "pixels": int(self.pixels[i]),
                "area_m2": float(self.m2[i]),
                "area_ha": float(self.m2[i]) / 1e4,
                "share": float(self.m2[i]) / total if total else 0.0,
            }
            for i, name in enumerate(self.classes)
        ]


def write_area_table(
    csv_path: Path,
    json_path: Path,
    rows: Sequence[Mapping[str, Any]],
    about: Mapping[str, Any],
    overwrite: bool,
) -> None:
    """Write an area table as CSV (`rows`) and JSON (`about` and the rows), each whole or not at all.

    Raises:
        OutputExistsError: A destination exists and `overwrite` is False.
        RasterError: A destination folder is not writable.
    """
    import csv
    import io
    import json

    from geoadapters._staging import staged_file

    fields = list(rows[0]) if rows else list(AREA_FIELDS)
    text = io.StringIO()
    writer = csv.DictWriter(text, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    try:
        with (
            staged_file(csv_path, overwrite=overwrite) as staged_csv,
            staged_file(json_path, overwrite=overwrite) as staged_json,
        ):
            staged_csv.write_text(text.getvalue())
            staged_json.write_text(json.dumps({**about, "classes": list(rows)}, indent=2) + "\n")
    except OSError as err:
        if isinstance(err, FileExistsError):
            raise
        raise RasterError(f"cannot write the area table {csv_path}: {err}") from err


def class_areas(path: str | Path, classes: Sequence[str]) -> dict[str, float]:
    """Ground area in m² of each class of a prediction's class map (its band 1; nodata not counted).

    The map is read in strips of rows, so memory does not grow with the raster's height.

    Args:
        path: Prediction GeoTIFF (uint8 classes with nodata 255, or float32 with NaN).
        classes: Class names in value order.

    Raises:
        RasterError: The file cannot be read, or its pixel areas are unknown (see `row_pixel_areas`).
    """
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    try:
        with rasterio.open(path) as ds:
            areas = ClassAreas(ds.crs, ds.transform, ds.height, classes)
            for top in range(0, ds.height, _ROWS_PER_READ):
                count = min(_ROWS_PER_READ, ds.height - top)
                areas.add(top, ds.read(1, window=Window(0, top, ds.width, count)))
    except RasterioIOError as err:
        raise RasterError(f"cannot read the class map {path}: {err}") from err
    return dict(zip(classes, map(float, areas.m2), strict=True))
