"""What a scene says about itself that models need: when, where, at which ground sample distance.

The acquisition date comes from the file's tags (``ACQUISITION_DATE``, ``SENSING_TIME``, ...) or
its name: HLS names carry the year and day of year (``HLS.S30.T10TGS.2018285.v1.4``), Sentinel-2 and
most others a ``YYYYMMDD`` date; that of a frame of a multi-date stack from the tags of its first band.
The centre latitude and longitude come from the transform and CRS.
Pixel sizes of projected CRSs are taken in their linear unit (metres for UTM); those of geographic CRSs
are converted at the scene's centre latitude (one degree of latitude is about 111.32 km, of longitude
that times the cosine of the latitude).
"""

import dataclasses
import datetime
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS

from geoadapters.errors import GeoAdaptersWarning
from geoadapters.specs import InputSpec, SceneMetadata

__all__ = [
    "GSD_TOLERANCE",
    "FrameDateWarning",
    "GsdWarning",
    "ValueRangeWarning",
    "acquisition_date",
    "band_date",
    "centre_lat_lon",
    "frame_date_warning",
    "grid_metadata",
    "grid_pixel_size_m",
    "gsd_warning",
    "pixel_size_m",
    "value_range_warning",
]

# Tags that hold an acquisition date (first match wins), as GDAL drivers and common tools write them.
_DATE_TAGS = (
    "ACQUISITION_DATE",
    "DATE_ACQUIRED",
    "SENSING_TIME",
    "SENSING_DATE",
    "datetime",
    "TIFFTAG_DATETIME",
)
_HLS_NAME = re.compile(r"\.(\d{4})(\d{3})(?:T\d{6})?\.")  # .YYYYDDD. or .YYYYDDDTHHMMSS.
_DATE_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")

# A scene whose pixels are this many times larger or smaller than the adapter's GSD gets a warning.
GSD_TOLERANCE = 1.5
_METRES_PER_DEGREE = 111_320.0


class GsdWarning(GeoAdaptersWarning):
    """The scene's pixel size is far from the ground sample distance the adapter was trained at."""


class ValueRangeWarning(GeoAdaptersWarning):
    """The scene's values are far from the range the adapter was trained on (another scale or sensor)."""


class FrameDateWarning(GeoAdaptersWarning):
    """Some frames of a multi-date scene have an acquisition date and others none: none is used."""


def frame_date_warning(
    dates: Sequence[datetime.date | None], overrides: SceneMetadata | None
) -> FrameDateWarning | None:
    """The warning when some frames have no date (and `overrides` give none): none is used."""
    undated = [str(i) for i, date in enumerate(dates, start=1) if date is None]
    if not undated or len(undated) == len(dates) or (overrides is not None and overrides.dates):
        return None
    return FrameDateWarning(
        f"frame {', '.join(undated)} of {len(dates)} has no acquisition date in its tags or name, so "
        "the models that take dates get none; give them with `dates`"
    )


def pixel_size_m(dataset: rasterio.DatasetReader) -> float:
    """Mean side of the scene's pixels in metres (geographic CRSs converted at the centre latitude)."""
    return grid_pixel_size_m(dataset.crs, dataset.transform, dataset.height, dataset.width)


def _centre(transform: Affine, height: int, width: int) -> tuple[float, float]:
    col, row = width / 2, height / 2
    return (
        transform.c + transform.a * col + transform.b * row,
        transform.f + transform.d * col + transform.e * row,
    )


def grid_pixel_size_m(crs: CRS | None, transform: Affine, height: int, width: int) -> float:
    """`pixel_size_m` of a grid: its CRS, transform and size."""
    size_x, size_y = math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)
    if crs is not None and crs.is_geographic:
        _, y = _centre(transform, height, width)
        size_x *= _METRES_PER_DEGREE * math.cos(math.radians(y))
        size_y *= _METRES_PER_DEGREE
    elif crs is not None and crs.linear_units_factor is not None:
        factor = crs.linear_units_factor[1]
        size_x, size_y = size_x * factor, size_y * factor
    return math.sqrt(size_x * size_y)


def gsd_warning(dataset: rasterio.DatasetReader, spec: InputSpec, path: str | Path) -> GsdWarning | None:
    """The warning when the pixels of the scene at `path` are over 1.5x off the adapter's GSD."""
    if spec.gsd is None:
        return None
    size = pixel_size_m(dataset)
    ratio = max(size / spec.gsd, spec.gsd / size)
    if ratio <= GSD_TOLERANCE:
        return None
    return GsdWarning(
        f"{path} has {size:.3g} m pixels; the adapter was trained at {spec.gsd:g} m "
        f"({ratio:.1f}x): its prediction may be poor"
    )


def value_range_warning(
    values: npt.NDArray[np.float32], spec: InputSpec, factor: float, path: str | Path
) -> ValueRangeWarning | None:
    """The warning when sampled `values` of a scene are far from what the adapter knows.

    `values` are valid raw values of the scene (any shape), `factor` what they are multiplied by before
    the adapter's scale (a ``scale`` override). Far: their 99th percentile under a twentieth of the
    adapter's range, or over twice its top (an 8-bit RGB for reflectance x 10000, reflectance 0-1 for
    digital numbers, or the reverse). A warning, not an error: a user may have rescaled on purpose.
    """
    if spec.value_range is None or values.size == 0:
        return None
    low, high = spec.value_range
    top = float(np.percentile(values, 99)) * factor
    if low + (high - low) / 20 <= top <= 2 * high:
        return None
    units = f"; x {spec.scale:g}: {spec.units}" if spec.scale != 1 and spec.units else ""
    return ValueRangeWarning(
        f"{path}: its values reach {top:.4g} (99th percentile) where the adapter was trained on stored "
        f"values from {low:g} to {high:g}{units}: its prediction is likely meaningless; check which band is "
        "which (`bands`) and the values' scale (`scale`)"
    )


def _parse_date(text: str) -> datetime.date | None:
    match = re.match(r"\s*(\d{4})[-:]?(\d{2})[-:]?(\d{2})", text)
    if match is None:
        return None
    try:
        return datetime.date(*map(int, match.groups()))
    except ValueError:
        return None


def _tag_date(tags: dict[str, str]) -> datetime.date | None:
    for key in _DATE_TAGS:
        if key in tags and (found := _parse_date(tags[key])) is not None:
            return found
    return None


def band_date(dataset: rasterio.DatasetReader, band: int) -> datetime.date | None:
    """The acquisition date in the tags of one band (a frame of a multi-date stack), or None."""
    return _tag_date(dataset.tags(band))


def acquisition_date(dataset: rasterio.DatasetReader, path: str | Path) -> datetime.date | None:
    """The scene's acquisition date from its tags or its file name, or None."""
    if (found := _tag_date(dataset.tags())) is not None:
        return found
    name = Path(path).name
    hls = _HLS_NAME.search(name)
    if hls is not None:
        year, day = int(hls.group(1)), int(hls.group(2))
        if 1 <= day <= (366 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 365):
            return datetime.date(year, 1, 1) + datetime.timedelta(days=day - 1)
    for match in _DATE_NAME.finditer(name):
        try:
            return datetime.date(*map(int, match.groups()))
        except ValueError:
            continue
    return None


def centre_lat_lon(crs: CRS, transform: Affine, height: int, width: int) -> tuple[float, float]:
    """Latitude and longitude (degrees, WGS 84) of the centre of a grid."""
    x, y = _centre(transform, height, width)
    lon, lat = rasterio.warp.transform(crs, "EPSG:4326", [x], [y])
    return float(lat[0]), float(lon[0])


def grid_metadata(
    crs: CRS,
    transform: Affine,
    height: int,
    width: int,
    dates: Sequence[datetime.date | None],
    overrides: SceneMetadata | None = None,
) -> SceneMetadata:
    """Dates (one per frame; none unless every frame has one), centre and GSD of a grid.

    The fields set in `overrides` replace what the grid and `dates` say.
    """
    lat, lon = centre_lat_lon(crs, transform, height, width)
    known = tuple(d for d in dates if d is not None)
    derived = SceneMetadata(
        known if len(known) == len(dates) else (), lat, lon, grid_pixel_size_m(crs, transform, height, width)
    )
    if overrides is None:
        return derived
    given = {f.name: getattr(overrides, f.name) for f in dataclasses.fields(overrides)}
    return dataclasses.replace(derived, **{k: v for k, v in given.items() if v not in (None, ())})
