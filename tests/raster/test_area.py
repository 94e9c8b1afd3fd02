"""Pixel and class areas against independent computations: pyproj's geodesic polygon areas for
geographic grids, |a e| (and pyproj's unit factors) for projected ones."""

import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Geod
from rasterio.crs import CRS

from geoadapters.errors import RasterError
from geoadapters.raster.area import class_areas, row_pixel_areas

GEOD = Geod(ellps="WGS84")
EXAMPLE = "demo/examples/Spain_7370579_S2Hand.tif"


def geod_row_areas(transform: Affine, height: int) -> np.ndarray:
    """Area of the first pixel of each row, as a geodesic polygon on WGS84 (its edges are geodesics)."""
    out = []
    for row in range(height):
        corners = [
            transform @ (0, row),
            transform @ (1, row),
            transform @ (1, row + 1),
            transform @ (0, row + 1),
        ]
        lons, lats = zip(*corners, strict=True)
        out.append(abs(GEOD.polygon_area_perimeter(lons, lats)[0]))
    return np.array(out)


def test_geographic_rows_match_geodesic_polygons_on_the_bundled_chip():
    with rasterio.open(EXAMPLE) as ds:
        crs, transform, height = ds.crs, ds.transform, ds.height
    areas = row_pixel_areas(crs, transform, height)
    expected = geod_row_areas(transform, height)
    np.testing.assert_allclose(areas, expected, rtol=1e-8)
    assert areas[-1] > areas[0]  # the chip is in the northern hemisphere: rows widen southwards


@pytest.mark.parametrize("lat", [-70.0, 0.0, 45.5, 84.0])
def test_geographic_rows_at_other_latitudes_and_coarse_pixels(lat):
    transform = Affine(0.25, 0, 10.0, 0, -0.25, lat + 1.0)  # ~28 km pixels, rows 1/4 degree apart
    areas = row_pixel_areas(CRS.from_epsg(4326), transform, 8)
    # geodesic edges bow away from the parallels: their polygons differ by far less than 1e-4 here
    np.testing.assert_allclose(areas, geod_row_areas(transform, 8), rtol=1e-4)


def test_geographic_total_of_a_whole_hemisphere():
    # 1-degree cells from the equator to the pole, 360 of them per row: half the ellipsoid's area
    transform = Affine(1.0, 0, -180.0, 0, -1.0, 90.0)
    total = row_pixel_areas(CRS.from_epsg(4326), transform, 90).sum() * 360
    full = 4 * math.pi * 6371007.181**2  # the sphere of WGS84's area: its authalic radius
    assert total == pytest.approx(full / 2, rel=1e-6)


def test_projected_pixels_are_the_transform_determinant():
    utm = CRS.from_epsg(32630)
    np.testing.assert_array_equal(row_pixel_areas(utm, Affine(10, 0, 5e5, 0, -10, 4e6), 3), [100.0] * 3)
    rotated = Affine(8, 6, 5e5, 6, -8, 4e6)  # 10 m pixels turned by ~37 degrees
    np.testing.assert_allclose(row_pixel_areas(utm, rotated, 2), [100.0, 100.0])


def test_projected_units_are_converted_to_metres():
    feet = 2227  # NAD83 / California zone 3, US survey feet
    metres = ProjCRS.from_epsg(feet).axis_info[0].unit_conversion_factor
    areas = row_pixel_areas(CRS.from_epsg(feet), Affine(30, 0, 6e6, 0, -30, 2e6), 1)
    assert areas[0] == pytest.approx(900 * metres**2, rel=1e-12)


def test_unreferenced_and_rotated_geographic_grids_are_refused():
    with pytest.raises(RasterError, match="no CRS"):
        row_pixel_areas(None, Affine.identity(), 1)
    with pytest.raises(RasterError, match="rotated"):
        row_pixel_areas(CRS.from_epsg(4326), Affine(1e-4, 1e-5, 0, 1e-5, -1e-4, 40), 1)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_class_areas_sum_the_pixels_of_each_class(tmp_path, dtype):
    transform = Affine(0.01, 0, 5.0, 0, -0.01, 61.0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (700, 5)).astype(dtype)  # taller than one strip of reads
    nodata = 255 if dtype == "uint8" else np.nan
    labels[:3, :2] = nodata
    path = tmp_path / "pred.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=700, width=5, count=1, dtype=dtype,
        crs="EPSG:4326", transform=transform, nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(labels, 1)
    areas = class_areas(path, ["a", "b", "c"])
    rows = geod_row_areas(transform, 700)
    for value, name in enumerate("abc"):
        expected = float(rows @ (labels == value).sum(axis=1))
        assert areas[name] == pytest.approx(expected, rel=1e-6)
    assert sum(areas.values()) == pytest.approx(rows.sum() * 5 - rows[:3].sum() * 2, rel=1e-6)


def test_class_areas_of_an_unreadable_file(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00garbage")
    with pytest.raises(RasterError, match="cannot read"):
        class_areas(path, ["a"])
