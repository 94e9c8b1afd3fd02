"""The demo's /predict endpoint from gradio_client: the same file as ``geoadapters predict``, two
requests at once, and bad uploads refused with geoadapters' one-line message."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from demo.models import BUNDLED
from geoadapters import DEFAULT_ADAPTER
from geoadapters.cli.main import main
from geoadapters.inference.resume import ADAPTER_TAG, RUN_TAG, SOURCE_TAG
from geoadapters.raster.area import row_pixel_areas
from tests.demo.conftest import EXAMPLE

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow


@pytest.fixture
def client(demo_url, tmp_path):
    return gradio_client.Client(demo_url, verbose=False, download_files=str(tmp_path / "downloads"))


def _predict(client, path, label=BUNDLED.label):
    return client.predict(gradio_client.handle_file(str(path)), label, api_name="/predict")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.crs, ds.tags(), ds.descriptions


def test_predict_returns_the_file_geoadapters_predict_writes(client, tmp_path):
    rgb, class_map, legend, overlay, confidence, table, timing, prediction = _predict(client, EXAMPLE)
    cli = tmp_path / "cli.tif"
    argv = ["predict", str(EXAMPLE), "--adapter", BUNDLED.adapter]
    assert main([*argv, "--probabilities", "--inputs", "geotiff", "-o", str(cli)]) == 0
    ours, theirs = _read(prediction), _read(cli)
    np.testing.assert_array_equal(ours[0], theirs[0])  # the class map, 255 where nodata
    assert ours[1:3] == theirs[1:3]  # transform, CRS
    # model, adapter, runner tags (the command's run path adds what it resumes by); band names
    assert ours[3] == {k: v for k, v in theirs[3].items() if k not in (SOURCE_TAG, RUN_TAG, ADAPTER_TAG)}
    assert ours[4] == theirs[4]
    # the area table: the classes' pixels times their rows' geodesic areas (EPSG:4326 chip)
    labels = theirs[0][0]
    rows = row_pixel_areas(theirs[2], theirs[1], labels.shape[0])
    assert table["headers"] == ["class", "area (km²)", "share (%)"]
    for value, (name, km2, share) in enumerate(table["data"]):
        assert name == ["Not water", "Water"][value]
        assert km2 == pytest.approx(rows @ (labels == value).sum(axis=1) / 1e6, abs=1e-4)
        assert share == pytest.approx(100 * (labels == value).sum() / (labels != 255).sum(), abs=0.2)
    assert "tiles predicted in" in timing and "water" in legend
    for picture in (rgb, class_map, overlay, confidence):
        with Image.open(picture) as png:  # drawn at the scene's size (under the display limit)
            assert (png.mode, png.height, png.width) == ("RGBA", *labels.shape)


def test_two_requests_at_once_both_succeed(client):
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(_predict, client, EXAMPLE) for _ in range(2)]
        results = [job.result(timeout=300) for job in jobs]
    first, second = (_read(r[-1])[0] for r in results)
    np.testing.assert_array_equal(first, second)
    assert all("tiles predicted in" in r[6] for r in results)


def _rgb_tif(path):
    with rasterio.open(
        path, "w", driver="GTiff", height=64, width=64, count=3, dtype="uint8",
        crs="EPSG:4326", transform=Affine(1e-4, 0, 0, 0, -1e-4, 40),
    ) as dst:  # fmt: skip
        dst.write(np.ones((3, 64, 64), "uint8"))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "reading rows"),
        ("text", "is not a GeoTIFF"),
        ("three bands", "the model needs 6: BLUE, GREEN, RED"),
    ],
)
def test_bad_uploads_get_the_one_line_message(client, tmp_path, kind, message):
    path = tmp_path / "scene.tif"
    if kind == "truncated":
        path.write_bytes(EXAMPLE.read_bytes()[:5000])
    elif kind == "text":
        path.write_text("not a raster\n")
    else:
        _rgb_tif(path)
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        _predict(client, path)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_only_offered_adapters_load(client):
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        _predict(client, EXAMPLE, label=DEFAULT_ADAPTER)  # a path: no label of the list
    assert "is not in the list of choices" in str(info.value)  # Gradio refuses it before our code runs
    assert "Traceback" not in str(info.value)


def test_the_adapter_defaults_to_the_bundled_one(client):
    *_, table, _, prediction = client.predict(gradio_client.handle_file(str(EXAMPLE)), api_name="/predict")
    with rasterio.open(prediction) as ds:
        assert ds.tags()["adapter"] == "sen1floods11-tiny"
    assert [row[0] for row in table["data"]] == ["Not water", "Water"]
