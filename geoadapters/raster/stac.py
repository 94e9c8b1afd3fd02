"""A STAC Item as a scene: its band assets matched to the model's bands and stacked as a VRT.

Each asset's bands are named by the ``eo`` extension (``eo:bands`` with ``common_name``/``name``, or
STAC 1.1's ``bands`` with ``eo:common_name``) and resolved to canonical names
(`geoadapters.bands.canonical`); the assets holding the model's bands are stacked, one VRT band each
(named after its band, with its mask), and read window by window like any scene. All of them must
share one grid (size, transform and CRS). An item read from a URL may only point at remote assets
(never at this machine's files), and a local item only at files inside its own folder (or remote
ones); relative hrefs resolve against the item's location. Items are read bounded: a local one is a
regular file of at most 16 MB, a remote one is fetched with `geoadapters.raster.remote.fetch_json`
(timeouts, retries, size), and JSON nested too deeply is refused.
"""

from collections.abc import Sequence
from pathlib import Path

from geoadapters._serde import read_json
from geoadapters.bands import canonical
from geoadapters.errors import BandError, GeoAdaptersError, RasterError
from geoadapters.raster.remote import fetch_json, gdal_path, redact
from geoadapters.raster.vrt import Grid, VrtBand, grid_of, one_grid, stack_vrt

__all__ = ["is_stac_item", "stac_vrt"]

_LOCAL_LIMIT = 16 << 20  # bytes of a local STAC Item file


def is_stac_item(source: str | Path) -> bool:
    """Whether `source` names a STAC Item (a ``.json`` file or URL)."""
    return str(source).split("?")[0].lower().endswith(".json")


def _asset_bands(asset: object) -> list[str | None]:
    """Canonical names of an asset's bands (None where a band has no known name)."""
    fields = getattr(asset, "extra_fields", {})
    listed = fields.get("eo:bands") or fields.get("bands") or []
    names: list[str | None] = []
    for band in listed:
        name = band.get("common_name") or band.get("eo:common_name") or band.get("name")
        try:
            names.append(canonical(str(name)) if name else None)
        except BandError:
            names.append(None)
    return names


def stac_vrt(source: str | Path, needed: Sequence[str], geotiff_only: bool = False) -> tuple[str, list[str]]:
    """A VRT (XML) of the item's assets that hold `needed`, one band each, in that order.

    Args:
        source: The item's JSON file or URL.
        needed: Canonical bands the model reads.
        geotiff_only: Accept GeoTIFF (COG) assets only.

    Returns:
        The VRT's XML and the GDAL paths it reads.

    Raises:
        RasterError: The item cannot be read, points at local files from a URL, or its assets are not on
            one grid.
        BandError: A needed band is in no asset.
    """
    import pystac
    import rasterio

    remote_item = gdal_path(source) is not None
    if remote_item and not str(source).lower().startswith(("http://", "https://")):
        raise RasterError(f"{redact(str(source))}: STAC Items are read from files or http(s) URLs")
    try:
        data = fetch_json(str(source)) if remote_item else read_json(source, _LOCAL_LIMIT)
        item = pystac.Item.from_dict(data, href=str(source), preserve_dict=False)
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        pystac.STACError,
        pystac.STACTypeError,
    ) as err:
        detail = " ".join(str(err).split())[:200]
        raise RasterError(
            f"{redact(str(source))} is not a STAC Item that can be read: {redact(detail)}"
        ) from None
    folder = None if remote_item else Path(source).resolve().parent
    found: dict[str, tuple[str, int]] = {}
    for asset in item.assets.values():
        for index, band in enumerate(_asset_bands(asset), start=1):
            if band is not None and band not in found:
                href = asset.get_absolute_href() or asset.href
                path = gdal_path(href)
                if path is None and remote_item:
                    raise RasterError(
                        f"{redact(str(source))}: asset {redact(href)} is a local path; a remote item is read "
                        "remotely only"
                    )
                if path is None and folder is not None and not Path(href).resolve().is_relative_to(folder):
                    raise RasterError(
                        f"{source}: asset {href} is outside the item's folder {folder}; a local item reads "
                        "the files beside it only"
                    )
                found[band] = (path or href, index)
    missing = [b for b in needed if b not in found]
    if missing:
        raise BandError(f"{source}: no asset holds {', '.join(missing)} (found {', '.join(found) or 'none'})")
    grids: list[tuple[str, Grid]] = []
    stacked = []
    for band in needed:
        path, index = found[band]
        try:
            with rasterio.open(path, driver="GTiff" if geotiff_only else None) as src:
                grids.append((path, grid_of(src)))
                stacked.append(VrtBand(path, index, band, src.dtypes[index - 1], src.nodata))
        except (rasterio.errors.RasterioIOError, GeoAdaptersError) as err:
            raise RasterError(f"{source}: asset {path} cannot be read: {err}") from err
    xml = stack_vrt(one_grid(grids, f"{source}: the assets of {', '.join(needed)}"), stacked)
    return xml, [found[b][0] for b in needed]
