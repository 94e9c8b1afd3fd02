"""Cleaned class polygons: valid, gap- and overlap-free after simplification, equal whatever the strips,
minimum area and hole filling against a whole-map computation (scipy on the whole array), the file
formats (GeoParquet read back with pyarrow), and `vectorize` against ``--vector`` of the same run."""

import json

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
import shapely
from rasterio import features
from rasterio.crs import CRS
from rasterio.transform import Affine
from scipy import ndimage

from geoadapters.cli.main import main
from geoadapters.errors import OptionError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.area import class_areas
from geoadapters.raster.outputs import VectorOptions
from geoadapters.raster.polygons import PolygonStream
from geoadapters.raster.vector import exact_affine, vectorize
from tests.conftest import LABEL_CHIP, S2_CHIP, perturbed_model


def real_labels() -> np.ndarray:
    """The Sen1Floods11 hand label of the chip (0 land, 1 water, -1 nodata -> 255)."""
    with rasterio.open(LABEL_CHIP) as ds:
        labels = ds.read(1)
    return np.where(labels < 0, 255, labels).astype(np.uint8)


def stream(labels, options, chunk_rows, strip=37, row_areas=None, confidence=None):
    """The polygons of `labels` given in strips of `strip` rows, as arrays."""
    out = []
    areas = np.ones(labels.shape[0]) if row_areas is None else row_areas
    polygons = PolygonStream(*labels.shape, ["land", "water"], options, areas, out.append, chunk_rows)
    for top in range(0, labels.shape[0], strip):
        polygons.write(
            top, labels[top : top + strip], None if confidence is None else confidence[top : top + strip]
        )
    if not out:
        return np.array([], object), np.array([], int), np.array([], int), np.array([]), np.array([])
    return tuple(
        np.concatenate([getattr(p, f) for p in out])
        for f in ("geometry", "value", "pixels", "area", "confidence")
    )


def components(labels, value):
    """Sizes of the 4-connected regions of `value` in the whole map."""
    regions, count = ndimage.label(labels == value)
    return np.bincount(regions.ravel(), minlength=count + 1)[1:]


@pytest.mark.parametrize("chunk_rows", [40, 512])
def test_pixel_outlines_equal_those_of_the_whole_map_and_add_up(chunk_rows):
    labels = real_labels()
    geometry, value, pixels, area, _ = stream(labels, VectorOptions(simplify=0), chunk_rows)
    assert shapely.is_valid(geometry).all() and set(shapely.get_type_id(geometry)) == {3}
    for v in (0, 1):  # one polygon per 4-connected region, each with its own pixels
        assert sorted(pixels[value == v]) == sorted(components(labels, v))
        np.testing.assert_array_equal(shapely.area(geometry[value == v]).sum(), (labels == v).sum())
    np.testing.assert_array_equal(area, pixels)  # pixel areas of 1 here
    # and no vertex is left where pieces were joined: as many as the whole map's outlines have
    outlines = features.shapes(labels, mask=labels != 255, connectivity=4)
    whole = sum(len(ring) for shape, _ in outlines for ring in shape["coordinates"])
    assert shapely.get_num_coordinates(geometry).sum() == whole


def test_simplified_polygons_are_valid_share_their_edges_and_keep_the_area():
    labels = real_labels()
    geometry, value, pixels, _, _ = stream(labels, VectorOptions(simplify=1.0), 40)
    raw = stream(labels, VectorOptions(simplify=0), 40)[0]
    assert shapely.is_valid(geometry).all()
    assert shapely.get_num_coordinates(geometry).sum() < 0.7 * shapely.get_num_coordinates(raw).sum()
    total = float((labels != 255).sum())
    summed = shapely.area(geometry).sum()
    # no overlaps: the areas add up to their union; nodata's 99 px, simplified too, move by a few pixels
    assert abs(summed - shapely.union_all(geometry).area) <= 1e-9 * total
    assert summed == pytest.approx(total, rel=1e-4)
    # no gaps: without nodata the polygons tile the whole map
    filled = np.where(labels == 255, 0, labels)
    whole = stream(filled, VectorOptions(simplify=1.0), 40)[0]
    assert abs(shapely.area(whole).sum() - filled.size) <= 1e-9 * filled.size
    assert abs(shapely.union_all(whole).area - filled.size) <= 1e-9 * filled.size
    # class areas move a little with the outlines (pixel counts stay exact)
    for v in (0, 1):
        assert pixels[value == v].sum() == (labels == v).sum()
        assert shapely.area(geometry[value == v]).sum() == pytest.approx((labels == v).sum(), rel=0.01)


def test_the_polygons_do_not_depend_on_the_strips_they_come_in():
    labels = real_labels()
    one = stream(labels, VectorOptions(simplify=1.5, min_area=3, area_unit="px"), 64, strip=512)
    other = stream(labels, VectorOptions(simplify=1.5, min_area=3, area_unit="px"), 64, strip=23)
    assert shapely.equals_exact(one[0], other[0], 0).all()
    for a, b in zip(one[1:], other[1:], strict=True):
        np.testing.assert_array_equal(a, b)


def holes_map() -> np.ndarray:
    """Land with water blocks across chunk borders; holes of 4, 9 and 25 px in them, some with specks."""
    labels = np.zeros((160, 120), np.uint8)
    labels[10:150, 10:110] = 1  # one big water region across chunk borders (chunks of 40 rows)
    labels[30:32, 20:22] = 0  # hole of 4 px: land
    labels[38:41, 50:53] = 0  # hole of 9 px across the border at row 40, a water speck inside
    labels[39, 51] = 1
    labels[70:75, 70:75] = 255  # hole of 25 px: nodata
    labels[100:103, 30:33] = 255  # hole of 9 px: nodata with a land pixel
    labels[101, 31] = 0
    labels[0, 0] = 1  # specks of water on land: 1 and 2 px
    labels[155, 3:5] = 1
    return labels


def test_holes_below_the_size_are_filled_and_their_contents_left_out():
    labels = holes_map()
    geometry, value, pixels, _, _ = stream(
        labels, VectorOptions(simplify=0, fill_holes=10, area_unit="px"), 40
    )
    water = value == 1
    big = np.argmax(np.where(water, pixels, 0))
    # the big water region absorbed its three holes below 10 px (4 + 9 + 9), not the 25 px one
    assert (
        pixels[big] == (labels[10:150, 10:110] == 1).sum() + 4 + 9 + 9 - 1
    )  # minus the speck, counted within
    assert len(geometry[big].interiors) == 1 and shapely.Polygon(geometry[big].interiors[0]).area == 25
    # left out: the land in the holes and the water speck in one, and the 2 px water speck, a hole of
    # the land (which filled it); kept: the land around, the 1 px speck in the corner (no hole)
    assert sorted(pixels[~water]) == [labels.size - 140 * 100 - 3 + 2]
    assert sorted(pixels[water]) == sorted([1, pixels[big]])
    # every pixel with data is covered exactly once, except the one 25 px hole of nodata
    assert shapely.union_all(geometry).area == pytest.approx(labels.size - 25)


def test_minimum_area_leaves_out_exactly_the_smaller_regions():
    labels = real_labels()
    _, value, pixels, _, _ = stream(labels, VectorOptions(simplify=0, min_area=5, area_unit="px"), 40)
    for v in (0, 1):
        sizes = components(labels, v)
        assert sorted(pixels[value == v]) == sorted(sizes[sizes >= 5])
    # in m²: the same regions when a pixel is 100 m²
    in_m2 = stream(labels, VectorOptions(simplify=0, min_area=500), 40, row_areas=np.full(512, 100.0))
    np.testing.assert_array_equal(np.sort(in_m2[2]), np.sort(pixels))
    np.testing.assert_array_equal(in_m2[3], in_m2[2] * 100.0)


def test_classes_to_keep_and_unknown_ones():
    labels = real_labels()
    _, value, _, _, _ = stream(labels, VectorOptions(simplify=0, classes=("water",)), 40)
    assert set(value) == {1}
    with pytest.raises(OptionError, match="sand"):
        stream(labels, VectorOptions(classes=("sand",)), 40)


def test_confidence_is_the_mean_over_each_polygons_own_pixels():
    labels = holes_map()
    confidence = np.linspace(0.5, 1, labels.size).reshape(labels.shape)
    _, value, pixels, _, mean = stream(labels, VectorOptions(simplify=0), 40, confidence=confidence)
    regions, _ = ndimage.label(labels == 0)
    land = regions == regions[159, 119]
    (index,) = np.flatnonzero((value == 0) & (pixels == land.sum()))
    assert mean[index] == pytest.approx(confidence[land].mean(), rel=1e-12)


@pytest.fixture(scope="module")
def run(tmp_path_factory, checkpoint):
    """A prediction of the chip in 64 px tiles (strips that are no chunks) with polygons and uncertainty."""
    folder = tmp_path_factory.mktemp("run")
    model = perturbed_model("lora", "linear", checkpoint)
    options = VectorOptions(simplify=1.0, min_area=300, fill_holes=1000)
    report = predict_raster(
        S2_CHIP, folder / "map.tif", TorchRunner(model), tile_size=64, overlap=16, vector=folder / "map.gpkg",
        uncertainty=True, vector_options=options,
    )  # fmt: skip
    return report, options


def read_gpkg(path):
    _, _, wkb, fields = pyogrio.raw.read(path)
    return shapely.from_wkb(wkb), fields


def test_vectorize_gives_what_the_run_gave(run, tmp_path):
    report, options = run
    again = vectorize(report.output, tmp_path / "again.gpkg", options)
    (mine, fields), (theirs, their_fields) = read_gpkg(report.vector), read_gpkg(again)
    assert len(mine) > 3 and shapely.equals_exact(mine, theirs, 0).all()
    for a, b in zip(fields, their_fields, strict=True):
        np.testing.assert_array_equal(a, b)
    # the command, with the same options
    args = ["vectorize", str(report.output), "-o", str(tmp_path / "cli.parquet"), "--min-area", "300"]
    assert main([*args, "--fill-holes", "1000"]) == 0
    table = pq.read_table(tmp_path / "cli.parquet")
    assert shapely.equals_exact(
        shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False)), mine, 0
    ).all()
    np.testing.assert_array_equal(table["confidence"].to_numpy(), fields[4])


def test_geoparquet_reads_back_with_its_crs_and_fields(run, tmp_path):
    report, options = run
    path = vectorize(report.output, tmp_path / "map.parquet", options)
    table = pq.read_table(path)
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    with rasterio.open(report.output) as ds:
        assert CRS.from_user_input(json.dumps(geo["columns"]["geometry"]["crs"])) == ds.crs
    assert table.column_names == ["geometry", "class", "value", "pixels", "area_m2", "confidence"]
    polygons = shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False))
    assert shapely.is_valid(polygons).all()
    areas = class_areas(report.output, ["not water", "water"])
    # each class's polygons, before simplification and without cleaning, hold its whole area
    raw = pq.read_table(vectorize(report.output, tmp_path / "raw.parquet", VectorOptions(simplify=0)))
    for name in ("not water", "water"):
        mine = np.asarray(raw["class"].to_pylist()) == name
        assert raw["area_m2"].to_numpy()[mine].sum() == pytest.approx(areas[name], rel=1e-9)


def test_vectorize_refuses_a_map_without_classes(tmp_path, capsys):
    assert main(["vectorize", str(S2_CHIP), "-o", str(tmp_path / "x.gpkg")]) == 1
    assert "no class names" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.parametrize(
    "transform",
    [
        Affine(8.983152841195215e-05, 0, -0.7818936232976315, 0, -8.983152841195215e-05, 38.12881257139627),
        Affine(10, 0, 499980, 0, -10, 4200000),
        Affine.translation(712345.678, 5123456.789) * Affine.rotation(17.3) * Affine.scale(2.7, -2.7),
    ],
)
def test_mapped_pixel_corners_keep_their_topology(transform):
    # a hole touching its shell's diagonal edge at a pixel corner: rounding the mapped corners moves
    # the corner off the edge, across it in about half of the places for the first transform
    shell = np.array([(0, 0), (10, 0), (10, 6), (6, 10), (0, 10)])
    hole = np.array([(8, 8), (8, 5), (5, 5), (5, 8)])
    steps = np.arange(0, 4090, 61)
    at = [np.array([x, y]) for x in steps for y in steps]
    polygons = np.array([shapely.Polygon(shell + xy, [hole + xy]) for xy in at])
    assert shapely.is_valid(polygons).all()
    matrix, offset = exact_affine(transform, 4096, 4096)
    mapped = shapely.transform(polygons, lambda xy: xy @ matrix + offset)
    assert shapely.is_valid(mapped).all()
    # the same map as the raster's, to a ten-thousandth of a pixel
    corners = np.array([(0, 0), (4096, 0), (0, 4096), (4096, 4096)], float)
    expected = np.array([transform * tuple(c) for c in corners])
    assert np.abs(corners @ matrix + offset - expected).max() < 1e-4 * abs(transform.a)
