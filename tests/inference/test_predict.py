import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

import geoadapters
from geoadapters.errors import AdapterError, BandError, OutputExistsError, RasterError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.metadata import GsdWarning
from tests.conftest import HLS_CHIP, S2_CHIP, TEST_BASE, perturbed_model
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def model(checkpoint):
    return perturbed_model("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


def test_output_is_a_georeferenced_cog_of_the_input(tmp_path, model):
    report = predict_raster(S2_CHIP, tmp_path / "out.tif", TorchRunner(model))
    with rasterio.open(S2_CHIP) as src, rasterio.open(report.output) as out:
        assert (out.crs, out.transform, out.width, out.height) == (
            src.crs,
            src.transform,
            src.width,
            src.height,
        )
        assert out.count == 1 and out.dtypes == ("uint8",) and out.nodata == 255
        assert out.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert out.block_shapes == [(512, 512)] and out.profile["compress"] == "deflate"
        assert out.descriptions == ("class",)
        tags = out.tags()
        assert json.loads(tags["classes"]) == ["not water", "water"]
        assert tags["model"] == TEST_BASE and tags["adapter"] == "sen1floods11-lora"
        assert set(np.unique(out.read(1))) <= {0, 1}
    assert report.tiles == report.computed == 11 * 11  # ceil((512 - 64) / (64 - 16)) + 1 per axis
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.aux.xml"]


def test_one_tile_scene_equals_the_model_on_the_chip(tmp_path, model):
    window = Window(160, 0, 64, 64)
    scene = write_like(tmp_path / "tile.tif", chip_pixels(window))
    report = predict_raster(scene, None, TorchRunner(model), probabilities=True, probability_dtype="float32")
    assert report.output == tmp_path / "tile_pred.tif"
    assert report.probabilities == tmp_path / "tile_pred_proba.tif"
    index = [2, 3, 4, 9, 12, 13]  # B2, B3, B4, B8A, B11, B12 of the 13-band chip
    raw = torch.from_numpy(chip_pixels(window)[[i - 1 for i in index]].astype("float32"))[None]
    with torch.no_grad():
        expected = torch.softmax(model(model.normalize(raw)), dim=1)[0].numpy()
    with rasterio.open(report.output) as dst, rasterio.open(report.probabilities) as proba:
        classes = dst.read(1)
        bands = proba.read()
        assert proba.descriptions == ("probability of not water (0-1)", "probability of water (0-1)")
    np.testing.assert_allclose(bands, expected, atol=1e-5)
    np.testing.assert_array_equal(classes, expected.argmax(0))


def test_tiles_start_on_the_patch_grid(tmp_path, model):
    # 184 px: evenly spread 64 px tiles would start at 0, 60, 120; on the 16 px patch grid they start at
    # 0, 64, 128, and without overlap the middle tile's pixels are the model's on exactly that window.
    window = Window(100, 0, 184, 64)
    scene = write_like(tmp_path / "wide.tif", chip_pixels(window))
    report = predict_raster(
        scene, None, TorchRunner(model), overlap=0, probabilities=True, probability_dtype="float32"
    )
    index = [2, 3, 4, 9, 12, 13]  # B2, B3, B4, B8A, B11, B12 of the 13-band chip
    middle = chip_pixels(Window(164, 0, 64, 64))[[i - 1 for i in index]].astype("float32")
    with torch.no_grad():
        expected = torch.softmax(model(model.normalize(torch.from_numpy(middle)[None])), dim=1)[0].numpy()
    with rasterio.open(report.probabilities) as proba:
        np.testing.assert_allclose(proba.read()[:, :, 64:128], expected, atol=1e-5)


def test_batches_spanning_tile_rows_change_nothing(tmp_path, model):
    scene = write_like(tmp_path / "narrow.tif", chip_pixels(Window(0, 0, 100, 300)))  # 2 tiles per row
    outputs = []
    for batch_size in (1, 3, 8):
        target = tmp_path / f"b{batch_size}.tif"
        report = predict_raster(
            scene, target, TorchRunner(model), batch_size=batch_size, probabilities=True,
            probability_dtype="float32",
        )  # fmt: skip
        with rasterio.open(report.output) as dst, rasterio.open(report.probabilities) as proba:
            outputs.append(np.concatenate([dst.read(), proba.read()]))
    for other in outputs[1:]:
        np.testing.assert_allclose(other, outputs[0], atol=1e-5)


def test_nodata_and_nan_pixels_come_out_as_nodata(tmp_path, model):
    data = chip_pixels(Window(0, 0, 200, 150)).astype("float32")
    data[:, :20, :30] = 0  # the file's nodata value
    data[3, 100:, 150:] = np.nan  # NaN in one band
    scene = write_like(tmp_path / "holes.tif", data, dtype="float32")
    with rasterio.open(predict_raster(scene, None, TorchRunner(model)).output) as out:
        classes = out.read(1)
    assert (classes[:20, :30] == 255).all() and (classes[100:, 150:] == 255).all()
    assert set(np.unique(classes[30:100, :150])) <= {0, 1}


def test_scene_smaller_than_a_tile_is_the_model_on_the_mirrored_tile(tmp_path, model):
    window = Window(10, 10, 40, 50)  # 40 x 50 px under 64 px tiles: one tile, mirrored out to 64 px
    scene = write_like(tmp_path / "small.tif", chip_pixels(window))
    report = predict_raster(scene, None, TorchRunner(model), probabilities=True, probability_dtype="float32")
    raw = chip_pixels(window)[[1, 2, 3, 8, 11, 12]].astype("float32")
    tile = torch.from_numpy(np.pad(raw, ((0, 0), (0, 14), (0, 24)), mode="symmetric"))[None]
    with torch.no_grad():
        expected = torch.softmax(model(model.normalize(tile)), dim=1)[0, :, :50, :40].numpy()
    with rasterio.open(report.output) as out, rasterio.open(report.probabilities) as proba:
        assert out.shape == (50, 40)
        np.testing.assert_allclose(proba.read(), expected, atol=1e-5)
        np.testing.assert_array_equal(out.read(1), expected.argmax(0))


def test_hls_chip_with_bands_picked_by_number_and_rescaled(tmp_path, model):
    # L30 reflectance x 10000 in float32: bands 2-7 are the model's; the adapter expects scale 0.0001
    with pytest.warns(GsdWarning):  # 30 m pixels, an adapter trained at 10 m
        report = predict_raster(
            HLS_CHIP, tmp_path / "hls.tif", TorchRunner(model), bands=["2", "3", "4", "5", "6", "7"]
        )
    with rasterio.open(HLS_CHIP) as src, rasterio.open(report.output) as out:
        assert out.crs == src.crs and out.transform == src.transform
        assert json.loads(out.tags()["source_bands"]) == [2, 3, 4, 5, 6, 7]
        assert (out.read(1) != 255).mean() > 0.99


def test_an_interrupted_run_leaves_nothing(tmp_path, model):
    def stop(done, total):
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_raster(S2_CHIP, tmp_path / "out.tif", TorchRunner(model), progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_library_errors_have_their_types(tmp_path, model):
    with pytest.raises(RasterError):
        predict_raster(tmp_path / "missing.tif", None, TorchRunner(model))
    scene = write_like(tmp_path / "ten.tif", chip_pixels(Window(0, 0, 64, 64))[:10], descriptions=[""] * 10)
    with pytest.raises(BandError):
        predict_raster(scene, None, TorchRunner(model))
    (tmp_path / "ten_pred.tif").touch()
    with pytest.raises(OutputExistsError):
        predict_raster(scene, None, TorchRunner(model), bands=["2", "3", "4", "5", "6", "7"])
    multilabel = geoadapters.create(
        TEST_BASE, "linear_probe", "classification", num_classes=3, pretrained=False
    )
    with pytest.raises(AdapterError, match="task is multilabel"):
        predict_raster(scene, None, TorchRunner(multilabel))
