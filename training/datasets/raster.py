"""GeoTIFF reading for the datasets: bands with nodata filled, label maps, centre coordinates.

Every rasterio failure (missing, truncated or corrupt file) becomes a `DatasetError` naming the path.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError

from training.errors import DatasetError

__all__ = ["Raster", "centre_latlon", "read_bands", "read_labels"]


@dataclass(frozen=True)
class Raster:
    """Pixels of a GeoTIFF and where they are.

    Attributes:
        data: (bands, height, width) array.
        transform: Pixel-to-map affine transform.
        crs: Coordinate reference system.
    """

    data: np.ndarray
    transform: Affine
    crs: CRS


def _open(path: Path) -> rasterio.DatasetReader:
    if not path.is_file():
        raise DatasetError(f"{path}: file is missing")
    try:
        return rasterio.open(path)
    except RasterioError as err:
        raise DatasetError(f"{path}: not a readable GeoTIFF ({err})") from err


def read_bands(path: Path, indexes: Sequence[int] | None = None, fill: float = 0.0) -> Raster:
    """Bands of a GeoTIFF as float32, its nodata pixels and NaNs replaced by `fill`.

    Args:
        path: The file.
        indexes: 1-based band numbers to read, in this order; all bands when None.
        fill: Value for nodata and NaN pixels (the paper's ``no_data_replace``, 0).

    Raises:
        DatasetError: The file is missing, truncated or not a GeoTIFF.
    """
    with _open(path) as src:
        try:
            data = src.read(list(indexes) if indexes is not None else None, masked=True)
        except RasterioError as err:
            raise DatasetError(
                f"{path}: cannot read its pixels, the file is truncated or corrupt ({err})"
            ) from err
        image = data.astype(np.float32).filled(fill)
        image[np.isnan(image)] = fill
        return Raster(image, src.transform, src.crs)


def read_labels(path: Path, nodata_label: int) -> Raster:
    """The first band of a label GeoTIFF as int64, its nodata pixels set to `nodata_label`.

    Raises:
        DatasetError: The file is missing, truncated or not a GeoTIFF.
    """
    with _open(path) as src:
        try:
            data = src.read(1, masked=True)
        except RasterioError as err:
            raise DatasetError(
                f"{path}: cannot read its pixels, the file is truncated or corrupt ({err})"
            ) from err
        labels = data.astype(np.int64).filled(nodata_label)
        return Raster(labels[None], src.transform, src.crs)


def centre_latlon(raster: Raster) -> tuple[float, float]:
    """Latitude and longitude (degrees, WGS 84) of the centre of pixel (height // 2, width // 2).

    The paper's datasets take this pixel, reprojected from the file's CRS (peft-geofm
    ``datasets/burn_scars.py::_get_lat_lon``).
    """
    height, width = raster.data.shape[-2:]
    x, y = raster.transform @ (width // 2 + 0.5, height // 2 + 0.5)
    lons, lats = rasterio.warp.transform(raster.crs, "EPSG:4326", [x], [y])
    return float(lats[0]), float(lons[0])
