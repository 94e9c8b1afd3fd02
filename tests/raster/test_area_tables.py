"""``--areas``: each scene's table against an independent float64 computation (pyproj's geodesic areas for
EPSG:4326, 10 m x 10 m for UTM) from the class map's own pixels, and the batch summary of the command."""

import csv
import json

import numpy as np
import pytest
import rasterio
from affine import Affine

import geoadapters
from geoadapters.cli.main import main
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.outputs import areas_paths
from tests.conftest import S2_CHIP
from tests.raster.test_area import geod_row_areas
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def runner():
    return TorchRunner(geoadapters.load(geoadapters.DEFAULT_ADAPTER))


def read_table(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_table(report, expected_m2):
    table_csv, table_json = areas_paths(report.output)
    assert report.areas == (table_csv, table_json)
    rows = read_table(table_csv)
    about = json.loads(table_json.read_text())
    assert [r["class"] for r in rows] == ["Not water", "Water"] == [c["class"] for c in about["classes"]]
    for row, m2 in zip(rows, expected_m2, strict=True):
        assert float(row["area_m2"]) == pytest.approx(m2, rel=1e-9)
        assert float(row["area_ha"]) == pytest.approx(m2 / 1e4, rel=1e-9)
        assert float(row["share"]) == pytest.approx(m2 / sum(expected_m2), rel=1e-9)
    assert report.class_area_m2 == {r["class"]: float(r["area_m2"]) for r in rows}


def test_a_geographic_scene_s_table_equals_geodesic_pixel_areas(tmp_path, runner):
    pixels = chip_pixels()
    pixels[:, :20, :30] = 0  # nodata: not counted
    scene = write_like(tmp_path / "scene.tif", pixels)
    report = predict_raster(scene, tmp_path / "map.tif", runner, areas=True)
    with rasterio.open(report.output) as ds:
        labels, transform = ds.read(1), ds.transform
    assert (labels[:20, :30] == 255).all()
    rows = geod_row_areas(transform, labels.shape[0])  # pyproj, per row, float64
    check_table(report, [float(rows @ (labels == v).sum(axis=1)) for v in (0, 1)])


def test_a_utm_scene_s_table_equals_pixel_counts_times_100_m2(tmp_path, runner):
    scene = tmp_path / "utm.tif"
    with rasterio.open(S2_CHIP) as src:
        profile = src.profile | {"crs": "EPSG:32630", "transform": Affine(10, 0, 600_000, 0, -10, 4_200_000)}
        with rasterio.open(scene, "w", **profile) as dst:
            dst.write(src.read())
            dst.descriptions = src.descriptions
    report = predict_raster(scene, tmp_path / "map.tif", runner, areas=True)
    with rasterio.open(report.output) as ds:
        labels = ds.read(1)
    check_table(report, [float((labels == v).sum()) * 100.0 for v in (0, 1)])


def test_the_command_writes_a_summary_of_the_batch(tmp_path):
    scenes = [
        write_like(tmp_path / f"s{i}.tif", chip_pixels(((0, 256), (i * 128, i * 128 + 256)))) for i in (0, 1)
    ]
    out = tmp_path / "out"
    out.mkdir()
    assert main(["predict", *map(str, scenes), "-o", str(out), "--areas"]) == 0
    summary = read_table(out / "areas_summary.csv")
    per_scene = {
        str(s): {
            r["class"]: float(r["area_m2"]) for r in read_table(areas_paths(out / f"{s.stem}_pred.tif")[0])
        }
        for s in scenes
    }
    for row in summary:
        if row["scene"] != "all":
            assert float(row["area_m2"]) == per_scene[row["scene"]][row["class"]]
    totals = {r["class"]: float(r["area_m2"]) for r in summary if r["scene"] == "all"}
    for name, total in totals.items():
        assert total == pytest.approx(sum(areas[name] for areas in per_scene.values()), rel=1e-12)
    assert np.isclose(sum(totals.values()), sum(float(r["area_m2"]) for r in summary if r["scene"] != "all"))
