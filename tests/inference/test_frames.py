"""Multi-date scenes for models of several frames: one file per frame, or a multi-date stack."""

import datetime
import json
import warnings

import numpy as np
import pytest
import rasterio
import torch

import geoadapters
from geoadapters.config import Inference
from geoadapters.errors import BandError, RasterError
from geoadapters.inference.array import predict_array
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.metadata import FrameDateWarning, centre_lat_lon
from geoadapters.specs import SceneMetadata
from tests.conftest import TEST_BASE
from tests.frames import DAYS, HLS_30M, SIZE, frame_name, frame_pixels, reference, write_frame


@pytest.fixture(scope="module")
def model(frames_model):
    return frames_model


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
    write_frame(tmp_path / "bad.tif", np.concatenate([frame_pixels(0)] * 3))  # descriptions: frame 1 only
    with pytest.raises(BandError, match=r"frame 2 \(bands 8-14\)"):
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
