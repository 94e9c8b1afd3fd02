"""Scenes written by the tests from the real Sentinel-2 chip: its pixels, georeferencing and bands."""

import warnings

import rasterio
from rasterio.errors import NotGeoreferencedWarning

from tests.conftest import S2_CHIP


def write_like(path, data, *, crs="EPSG:4326", nodata=0, descriptions=None, dtype=None):
    """A GeoTIFF with the chip's georeferencing (or none) and the given pixels."""
    with rasterio.open(S2_CHIP) as src:
        profile = src.profile | {"height": data.shape[1], "width": data.shape[2], "count": data.shape[0]}
        profile |= {"dtype": dtype or data.dtype, "nodata": nodata, "crs": crs}
        descriptions = src.descriptions if descriptions is None and data.shape[0] == 13 else descriptions
    if crs is None:
        profile.pop("transform")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # written without georeference on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            for i, d in enumerate(descriptions or [], start=1):
                dst.set_band_description(i, d)
    return path


def chip_pixels(window=None):
    with rasterio.open(S2_CHIP) as src:
        return src.read(window=window)
