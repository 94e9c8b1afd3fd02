"""Multi-date scenes for models of several frames: one file per frame, or a multi-date stack."""

import dataclasses
import datetime
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window

import geoadapters
from geoadapters.cli.main import main
from geoadapters.config import Inference
from geoadapters.errors import BandError, RasterError
from geoadapters.inference.array import predict_array
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.metadata import FrameDateWarning, centre_lat_lon
from geoadapters.specs import SceneMetadata
from tests.conftest import HLS_CHIP, S1F11, TEST_BASE

HLS_30M = dataclasses.replace(S1F11, gsd=30)
BURN_GRID = HLS_CHIP.parent.parent / "burn_scars" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
DAYS = (285, 301, 317)  # HLS day-of-year dates of the three frames, in 2018
SIZE = 64
# Seven bands per frame: the chip's coastal aerosol band first, which the model does not read.
FRAME_BANDS = ("COASTAL_AEROSOL", *S1F11.bands)


def frame_name(day: int) -> str:
    return f"subsetted_512x512_HLS.S30.T10TGS.2018{day:03d}.v1.4_merged.tif"


def frame_pixels(k: int) -> np.ndarray:
    """Frame `k`: a different 64 x 64 window of the real HLS chip, its bands 1-7 (float32, -9999 nodata)."""
    with rasterio.open(HLS_CHIP) as src:
        return src.read(list(range(1, 8)), window=Window(40 * k, 24 * k, SIZE, SIZE))


def profile(count: int, transform: Affine | None = None) -> dict:
    with rasterio.open(BURN_GRID) as grid:
        return {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": count, "dtype": "float32",
                "crs": grid.crs, "transform": transform or grid.transform, "nodata": -9999}  # fmt: skip


def write_frame(path, pixels, transform=None):
    with rasterio.open(path, "w", **profile(len(pixels), transform)) as dst:
        dst.write(pixels)
        for i, name in enumerate(FRAME_BANDS, start=1):
            dst.set_band_description(i, name)
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Three frames on the burn-scar granule's grid under HLS names dated 2018-10-12, -28, 11-13."""
    folder = tmp_path_factory.mktemp("frames")
    return [write_frame(folder / frame_name(day), frame_pixels(k)) for k, day in enumerate(DAYS)]


@pytest.fixture(scope="module")
def stack(frames):
    """The same frames as one multi-date stack: 3 x 7 bands, frame after frame, dates in band tags."""
    path = frames[0].parent / "stack.tif"
    with rasterio.open(path, "w", **profile(21)) as dst:
        dst.write(np.concatenate([frame_pixels(k) for k in range(3)]))
        for k, day in enumerate(DAYS):
            for i, name in enumerate(FRAME_BANDS):
                dst.set_band_description(7 * k + i + 1, name)
            date = datetime.date(2018, 1, 1) + datetime.timedelta(days=day - 1)
            dst.update_tags(7 * k + 1, ACQUISITION_DATE=date.isoformat())
    return path


@pytest.fixture(scope="module")
def model():
    """A Prithvi-2.0 -TL model of three frames (time and location encoders), depth 1."""
    torch.manual_seed(0)
    return geoadapters.create(
        "prithvi-v2-tiny-tl", "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=SIZE, overlap=0), depth=1, num_frames=3,
    ).eval()  # fmt: skip


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapter") / "frames-full")


def reference(model, order=(0, 1, 2), days=DAYS, dates=True, rows=slice(None), cols=slice(None)):
    """Softmax of the model called directly on the frames stacked as (1, C, T, H, W), in float64."""
    raw = np.stack([frame_pixels(k)[1:, rows, cols] for k in order], axis=1)[None]  # the model's 6 bands
    with rasterio.open(BURN_GRID) as grid:
        lat, lon = centre_lat_lon(grid.crs, grid.transform, SIZE, SIZE)
    metadata = {"location_coords": torch.tensor([[lat, lon]])}
    if dates:
        metadata["temporal_coords"] = torch.tensor([[[2018.0, float(days[k])] for k in order]])
    with torch.no_grad():
        logits = model(model.normalize(torch.from_numpy(raw)), **metadata)
    return torch.softmax(logits.double(), 1)[0].numpy()


def probabilities(source, model, out, **options):
    runner = TorchRunner(model) if isinstance(model, torch.nn.Module) else model
    report = predict_raster(source, out, runner, probabilities=True, probability_dtype="float32", **options)
    with rasterio.open(report.probabilities) as proba:
        return proba.read()


def test_three_frames_equal_the_model_on_the_stacked_frames(tmp_path, frames, model):
    written = probabilities(frames, model, tmp_path / "out.tif")
    np.testing.assert_allclose(written, reference(model), atol=1e-5)
    tiled = probabilities(frames, model, tmp_path / "tiled.tif", tile_size=32, overlap=0)
    for rows, cols in [
        (slice(0, 32), slice(0, 32)),
        (slice(0, 32), slice(32, 64)),
        (slice(32, 64), slice(32, 64)),
    ]:
        np.testing.assert_allclose(tiled[:, rows, cols], reference(model, rows=rows, cols=cols), atol=1e-5)
    with rasterio.open(tmp_path / "out.tif") as out, rasterio.open(frames[0]) as first:
        assert (out.crs, out.transform, out.shape) == (first.crs, first.transform, first.shape)
        assert json.loads(out.tags()["frame_dates"]) == ["2018-10-12", "2018-10-28", "2018-11-13"]
        assert json.loads(out.tags()["source_bands"]) == [2, 3, 4, 5, 6, 7] * 3
    default = predict_raster(frames, None, TorchRunner(model)).output
    assert default == frames[0].with_name(frames[0].stem + "_pred.tif")  # named after the first frame
    default.unlink()


def test_the_order_of_the_frames_matters(tmp_path, frames, model):
    swapped = probabilities([frames[2], frames[1], frames[0]], model, tmp_path / "out.tif")
    np.testing.assert_allclose(swapped, reference(model, order=(2, 1, 0)), atol=1e-5)
    assert np.abs(swapped - reference(model)).max() > 1e-3


def test_each_frames_date_reaches_the_model(tmp_path, frames, model):
    days = (285, 301, 200)
    dates = tuple(datetime.date(2018, 1, 1) + datetime.timedelta(days=d - 1) for d in days)
    given = probabilities(frames, model, tmp_path / "given.tif", metadata=SceneMetadata(dates))
    np.testing.assert_allclose(given, reference(model, days=days), atol=1e-5)
    assert np.abs(given - reference(model)).max() > 1e-3
    undated = [write_frame(tmp_path / f"frame{k}.tif", frame_pixels(k)) for k in range(3)]
    without = probabilities(undated, model, tmp_path / "undated.tif")
    np.testing.assert_allclose(without, reference(model, dates=False), atol=1e-5)
    assert np.abs(without - reference(model)).max() > 1e-3
    partly = [frames[0], undated[1], frames[2]]
    with pytest.warns(FrameDateWarning, match="frame 2 of 3 has no acquisition date"):
        np.testing.assert_array_equal(probabilities(partly, model, tmp_path / "partly.tif"), without)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dates given for every frame: nothing to warn about
        probabilities(partly, model, tmp_path / "partly-given.tif", metadata=SceneMetadata(dates))
    with pytest.raises(ValueError, match="2 dates given; the model takes 3 frame"):
        predict_raster(frames, tmp_path / "two.tif", TorchRunner(model), metadata=SceneMetadata(dates[:2]))


def test_a_multi_date_stack_equals_its_frames(tmp_path, frames, stack, model):
    from_frames = probabilities(frames, model, tmp_path / "frames.tif")
    np.testing.assert_array_equal(probabilities(stack, model, tmp_path / "stack.tif"), from_frames)
    # frame after frame, bands matched per frame: numbers pick the same bands in each frame
    picked = probabilities(stack, model, tmp_path / "picked.tif", bands=["2", "3", "4", "5", "6", "7"])
    np.testing.assert_array_equal(picked, from_frames)


def test_a_stack_that_is_no_multiple_of_the_frames_is_refused(tmp_path, frames, model):
    with pytest.raises(BandError, match="a model of 3 frames takes 3 files"):
        predict_raster(frames[0], tmp_path / "out.tif", TorchRunner(model))
    with pytest.raises(BandError, match=r"frame 2 \(bands 8-14\)"):
        write_frame(tmp_path / "bad.tif", np.concatenate([frame_pixels(0)] * 3))  # descriptions: frame 1
        predict_raster(tmp_path / "bad.tif", tmp_path / "out.tif", TorchRunner(model))
    assert not (tmp_path / "out.tif").exists()


def test_predict_array_on_frames_equals_predict_raster(tmp_path, frames, model):
    xarray = pytest.importorskip("xarray")
    rioxarray = pytest.importorskip("rioxarray")
    runner = TorchRunner(model)
    expected = probabilities(frames, model, tmp_path / "out.tif")
    # (time, band, y, x) as odc-stac and stackstac give it: the dates come from the time coordinate
    days = [np.datetime64("2018-01-01") + np.timedelta64(d - 1, "D") for d in DAYS]
    cube = xarray.concat([rioxarray.open_rasterio(f) for f in frames], dim="time").assign_coords(time=days)
    classes, proba = predict_array(cube, runner, probabilities=True)
    np.testing.assert_allclose(proba.values, expected, atol=1e-6, equal_nan=True)
    assert classes.dims == ("y", "x") and classes.rio.crs == cube.rio.crs
    # without the time coordinate the model gets no dates, as from undated files
    undated = predict_array(cube.drop_vars("time"), runner, probabilities=True)[1]
    np.testing.assert_allclose(undated.values, reference(model, dates=False), atol=1e-5)
    # numpy (time, bands, rows, cols) in the model's band order; the place and dates as metadata
    with rasterio.open(frames[0]) as first:
        place = SceneMetadata(
            tuple(datetime.date.fromisoformat(str(d)) for d in days),
            *centre_lat_lon(first.crs, first.transform, SIZE, SIZE),
        )
    raw = np.stack([frame_pixels(k)[1:] for k in range(3)])
    _, plain = predict_array(raw, runner, probabilities=True, nodata=-9999, metadata=place)
    np.testing.assert_allclose(plain, expected, atol=1e-6, equal_nan=True)
    with pytest.raises(RasterError, match=r"takes an array \(3 frames, bands, rows, cols\)"):
        predict_array(raw.reshape(18, SIZE, SIZE), runner)


def shifted(path, folder):
    with rasterio.open(path) as src:
        moved = src.transform @ Affine.translation(1, 0)
    return write_frame(folder / "shifted.tif", frame_pixels(2), moved)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("shifted grid", r"the frames must share one grid: .*shifted.tif differs from .* in transform"),
        ("two frames", r"2 frames given .*; the model takes 3"),
        ("one date", r"a model of 3 frames takes 3 files \(--frames\) or a multi-date stack"),
        ("missing frame", r"missing.tif: no such file"),
    ],
)
def test_bad_frames_are_one_line_errors_with_no_output(case, message, tmp_path, frames, adapter, capsys):
    given = {
        "shifted grid": ["--frames", *map(str, frames[:2]), str(shifted(frames[0], tmp_path))],
        "two frames": ["--frames", *map(str, frames[:2])],
        "one date": [str(frames[0])],
        "missing frame": ["--frames", *map(str, frames[:2]), str(tmp_path / "missing.tif")],
    }[case]
    out = tmp_path / "out.tif"
    assert main(["predict", *given, "--adapter", str(adapter), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err
    assert not out.exists() and not list(tmp_path.glob("*_pred.tif"))


def test_frames_given_to_a_single_date_model_are_refused(tmp_path, frames, capsys):
    single = geoadapters.create(
        "prithvi-v2-tiny-tl", "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=SIZE, overlap=0), depth=1,
    )  # fmt: skip
    folder = single.save_pretrained(tmp_path / "single")
    args = ["predict", "--frames", *map(str, frames), "--adapter", str(folder), "-o", str(tmp_path / "o.tif")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "3 frames given" in err and "the model takes 1" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.tif").exists()


def test_cli_frames_and_stack_write_the_same_map(tmp_path, frames, stack, adapter, model):
    def predict(scene, out, *extra):
        scene = ["--frames", *map(str, frames)] if scene == "frames" else [str(scene)]
        return main(["predict", *scene, "--adapter", str(adapter), "-o", str(tmp_path / out), *extra])

    proba = ["--probabilities", "--probability-dtype", "float32"]
    assert predict("frames", "frames.tif", *proba) == 0
    assert predict(stack, "stack.tif") == 0
    with rasterio.open(tmp_path / "frames.tif") as a, rasterio.open(tmp_path / "stack.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    with rasterio.open(tmp_path / "frames_proba.tif") as written:
        np.testing.assert_allclose(written.read(), reference(model), atol=1e-5)
    dates = ["--date", "2018-10-12", "--date", "2018-10-28", "--date", "2018-07-19"]  # days 285, 301, 200
    assert predict("frames", "dated.tif", *proba, *dates) == 0
    with rasterio.open(tmp_path / "dated_proba.tif") as written:
        np.testing.assert_allclose(written.read(), reference(model, days=(285, 301, 200)), atol=1e-5)
    assert predict(stack, "two.tif", *dates[:4]) == 2  # a date per frame, or none
    assert not (tmp_path / "two.tif").exists()


def test_an_onnx_model_of_frames_predicts_the_frames_as_torch(tmp_path, frames):
    from geoadapters.inference.export import export_onnx
    from geoadapters.inference.onnx_runner import OnnxRunner

    torch.manual_seed(0)
    model = geoadapters.create(
        TEST_BASE, "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=32, overlap=8), depth=1, num_frames=3,
    ).eval()  # fmt: skip
    export_onnx(model, tmp_path / "frames.onnx")
    onnx = probabilities(frames, OnnxRunner(tmp_path / "frames.onnx"), tmp_path / "onnx.tif")
    np.testing.assert_allclose(onnx, probabilities(frames, model, tmp_path / "torch.tif"), atol=1e-4)


def test_a_pixel_without_data_in_any_frame_is_nodata(tmp_path, frames, model):
    pixels = frame_pixels(1)
    pixels[:, :10, :12] = -9999  # the file's nodata value, in the second frame only
    holed = write_frame(tmp_path / frame_name(301), pixels)
    report = predict_raster([frames[0], holed, frames[2]], tmp_path / "out.tif", TorchRunner(model))
    with rasterio.open(report.output) as out:
        classes = out.read(1)
    assert (classes[:10, :12] == 255).all() and (classes == 255).sum() == 120


@pytest.mark.slow
def test_frames_on_a_dask_worker_equal_one_process(tmp_path, frames, adapter, model, capsys):
    pytest.importorskip("distributed")
    expected = predict_raster(frames, tmp_path / "one.tif", TorchRunner(model), probabilities=True)
    args = ["predict", "--frames", *map(str, frames), "--adapter", str(adapter), "--workers", "1"]
    args += ["-o", str(tmp_path / "many.tif"), "--probabilities"]
    assert main(args) == 0
    for one, many in [
        (expected.output, tmp_path / "many.tif"),
        (expected.probabilities, tmp_path / "many_proba.tif"),
    ]:
        with rasterio.open(one) as a, rasterio.open(many) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    with rasterio.open(tmp_path / "many.tif") as out:  # resume: the identity of every frame's file
        assert [f["path"] for f in json.loads(out.tags()["geoadapters_source"])] == [str(f) for f in frames]
    capsys.readouterr()
    assert main(args) == 0
    said = capsys.readouterr()
    assert "(up to date, skipped)" in said.out and "0 done, 1 skipped, 0 failed of 1 scenes" in said.err


def test_frames_on_other_grids_are_reported_before_torch_is_imported(tmp_path, frames, adapter):
    code = (
        "import sys; from geoadapters.cli.main import main; code = main(sys.argv[1:]); "
        "print('TORCH', 'torch' in sys.modules); sys.exit(code)"
    )
    argv = [
        "predict",
        "--frames",
        *frames[:2],
        shifted(frames[0], tmp_path),
        "--adapter",
        adapter,
        "-o",
        tmp_path,
    ]
    result = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True)
    assert result.returncode == 1 and "must share one grid" in result.stderr, result.stderr
    assert "TORCH False" in result.stdout
