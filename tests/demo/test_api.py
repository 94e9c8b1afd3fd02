"""The demo's /predict endpoint from gradio_client: the same file as ``geoadapters predict``, two
requests at once, a band mapping equal to ``--bands``, the range warning, and bad or hostile uploads
refused with geoadapters' one-line message, rendered with the demo's controls and no server path."""

import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from demo.models import BUNDLED
from demo.pictures import class_colours
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


def _predict(client, path, label=BUNDLED.label, bands=""):
    return client.predict(gradio_client.handle_file(str(path)), label, bands, api_name="/predict")


def _read(path):
    """The class map of a prediction file, or of the class map inside the demo's zip."""
    if str(path).endswith(".zip"):
        with zipfile.ZipFile(path) as zipped:
            name = next(n for n in zipped.namelist() if n.endswith("_pred.tif"))
        path = f"/vsizip/{path}/{name}"
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.crs, ds.tags(), ds.descriptions


def _bands_of_example(path, numbers, dtype=None, stretch=None):
    """The example's bands `numbers` as a file without band descriptions."""
    with rasterio.open(EXAMPLE) as src:
        profile = src.profile | {"count": len(numbers)}
        data = src.read(numbers)
    if dtype is not None:
        profile |= {"dtype": dtype, "nodata": None}
        data = np.clip(data / stretch * 255, 0, 255).astype(dtype)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_predict_returns_the_file_geoadapters_predict_writes(client, tmp_path):
    rgb, class_map, legend, overlay, confidence, table, timing, notes, prediction = _predict(client, EXAMPLE)
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
    assert "tiles predicted in" in timing and "water" in legend and notes == ""
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


def test_concurrent_visitors_get_their_own_warnings(client, tmp_path):
    rgb8 = _bands_of_example(tmp_path / "rgb.tif", [4, 3, 2], dtype="uint8", stretch=3000)
    with ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(_predict, client, *((rgb8, BUNDLED.label, "3,2,1,1,1,1") if i % 2 else (EXAMPLE,)))
            for i in range(4)
        ]
        notes = [job.result(timeout=300)[7] for job in jobs]
    assert [n.startswith("rgb.tif: its values reach") for n in notes] == [False, True, False, True]
    assert notes[0] == notes[2] == ""


def test_a_band_mapping_is_bands_on_the_command_line(client, tmp_path):
    four = _bands_of_example(tmp_path / "four.tif", [2, 3, 4, 9])  # blue, green, red, NIR; no names
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        _predict(client, four)  # no mapping: the error names the demo's control, not --bands
    assert "without usable descriptions" in str(info.value) and "the Band mapping" in str(info.value)
    assert "--bands" not in str(info.value) and "bands=" not in str(info.value)
    *_, prediction = _predict(client, four, bands="1,2,3,4,4,4")
    cli = tmp_path / "cli.tif"
    assert main(["predict", str(four), "--bands", "1,2,3,4,4,4", "-o", str(cli)]) == 0
    np.testing.assert_array_equal(_read(prediction)[0], _read(cli)[0])


def test_an_8_bit_rgb_gets_the_range_warning_without_server_paths(client, tmp_path):
    rgb8 = _bands_of_example(tmp_path / "rgb.tif", [4, 3, 2], dtype="uint8", stretch=3000)
    *_, notes, _ = _predict(client, rgb8, bands="3,2,1,1,1,1")
    assert notes.startswith("rgb.tif: its values reach")
    assert "the Band mapping" in notes and "the Value scale box" in notes
    assert "/" not in notes.split(";")[0]  # the file by its name, not the server's upload folder


def test_the_download_holds_class_names_and_the_demo_colours(client):
    *_, legend, _, _, _, _, _, prediction = _predict(client, EXAMPLE)
    with zipfile.ZipFile(prediction) as zipped:
        names = sorted(zipped.namelist())
        aux = zipped.read("Spain_7370579_S2Hand_pred.tif.aux.xml").decode()
    assert names == [
        "Spain_7370579_S2Hand_pred.tif", "Spain_7370579_S2Hand_pred.tif.aux.xml",
        "Spain_7370579_S2Hand_pred_proba.tif",
    ]  # fmt: skip
    assert "<Category>Not water</Category>" in aux and "<Category>Water</Category>" in aux
    with rasterio.open(f"/vsizip/{prediction}/Spain_7370579_S2Hand_pred.tif") as ds:
        colours = [ds.colormap(1)[value][:3] for value in (0, 1)]
    assert colours == class_colours(["Not water", "Water"])
    assert all(f"rgb{colour}".replace(" ", "") in legend.replace(" ", "") for colour in colours)


def _tif(path, height, width, count, **options):
    return rasterio.open(
        path, "w", driver="GTiff", height=height, width=width, count=count, dtype="uint8",
        crs="EPSG:4326", transform=Affine(1e-4, 0, 0, 0, -1e-4, 40), **options,
    ).close()  # fmt: skip


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
        ("png", "is a PNG file, not a GeoTIFF"),
        ("three bands", "the model needs 6: BLUE, GREEN, RED"),
        ("huge", "is 100000 x 100000 pixels; this demo predicts scenes of at most 16.8 megapixels"),
        ("too many bands", "has 300 bands; this demo reads files of 1 to 64 bands"),
        ("wrong band numbers", "band number(s) [7] do not exist: the file has bands 1 to 3"),
    ],
)
def test_bad_uploads_get_the_one_line_message(client, tmp_path, kind, message):
    path = tmp_path / "scene.tif"
    bands = ""
    if kind == "truncated":
        path.write_bytes(EXAMPLE.read_bytes()[:5000])
    elif kind == "text":
        path.write_text("not a raster\n")
    elif kind == "png":
        Image.new("RGB", (8, 8)).save(path, format="PNG")
    elif kind == "huge":  # a few kB declaring 10^10 pixels (sparse: no block written)
        _tif(path, 100000, 100000, 1, sparse_ok=True, tiled=True)
    elif kind == "too many bands":
        _tif(path, 8, 8, 300)
    else:
        _rgb_tif(path)
        bands = "1,2,3,7,1,1" if kind == "wrong band numbers" else ""
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        _predict(client, path, bands=bands)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)
    assert "/tmp" not in str(info.value) and str(tmp_path) not in str(info.value)


def test_odd_file_names_are_predicted_under_a_safe_name(client, tmp_path):
    odd = tmp_path / "scène (copy) ;$(rm -rf) «1».tif"
    odd.write_bytes(EXAMPLE.read_bytes())
    *_, timing, _, prediction = _predict(client, odd)
    assert "tiles predicted in" in timing
    with zipfile.ZipFile(prediction) as zipped:
        assert all(name.startswith("scène_copy_rm_-rf_1_pred") for name in zipped.namelist())


def test_only_offered_adapters_load(client):
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        _predict(client, EXAMPLE, label=DEFAULT_ADAPTER)  # a path: no label of the list
    assert "is not in the list of choices" in str(info.value)  # Gradio refuses it before our code runs
    assert "Traceback" not in str(info.value)


def test_the_adapter_defaults_to_the_bundled_one(client):
    *_, table, _, _, prediction = client.predict(gradio_client.handle_file(str(EXAMPLE)), api_name="/predict")
    assert _read(prediction)[3]["adapter"] == "sen1floods11-tiny"
    assert [row[0] for row in table["data"]] == ["Not water", "Water"]
