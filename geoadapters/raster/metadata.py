"""What a scene says about itself that models need: its ground sample distance, and how it compares.

Pixel sizes of projected CRSs are taken in their linear unit (metres for UTM); those of geographic CRSs
are converted at the scene's centre latitude (one degree of latitude is about 111.32 km, of longitude
that times the cosine of the latitude).
"""

import math
import warnings

import rasterio

from geoadapters.errors import GeoAdaptersWarning
from geoadapters.specs import InputSpec

__all__ = ["GSD_TOLERANCE", "GsdWarning", "check_gsd", "pixel_size_m"]

# A scene whose pixels are this many times larger or smaller than the adapter's GSD gets a warning.
GSD_TOLERANCE = 1.5
_METRES_PER_DEGREE = 111_320.0


class GsdWarning(GeoAdaptersWarning):
    """The scene's pixel size is far from the ground sample distance the adapter was trained at."""


def pixel_size_m(dataset: rasterio.DatasetReader) -> float:
    """Mean side of the scene's pixels in metres (geographic CRSs converted at the centre latitude)."""
    width, height = (abs(v) for v in dataset.res)
    crs = dataset.crs
    if crs is not None and crs.is_geographic:
        bounds = dataset.bounds
        latitude = math.radians((bounds.top + bounds.bottom) / 2)
        width *= _METRES_PER_DEGREE * math.cos(latitude)
        height *= _METRES_PER_DEGREE
    elif crs is not None and crs.linear_units_factor is not None:
        factor = crs.linear_units_factor[1]
        width, height = width * factor, height * factor
    return math.sqrt(width * height)


def check_gsd(dataset: rasterio.DatasetReader, spec: InputSpec) -> None:
    """Warn (`GsdWarning`) when the scene's pixels differ from the adapter's GSD by more than 1.5x."""
    if spec.gsd is None:
        return
    size = pixel_size_m(dataset)
    ratio = max(size / spec.gsd, spec.gsd / size)
    if ratio > GSD_TOLERANCE:
        warnings.warn(
            f"{dataset.name} has {size:.3g} m pixels; the adapter was trained at {spec.gsd:g} m "
            f"({ratio:.1f}x): its prediction may be poor",
            GsdWarning,
            stacklevel=3,
        )
