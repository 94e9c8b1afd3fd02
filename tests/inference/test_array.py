"""predict_array on numpy arrays and rioxarray DataArrays equals predict_raster on the same data."""

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geoadapters.inference.array import predict_array
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import perturbed_model
from tests.scenes import chip_pixels, write_like

rioxarray = pytest.importorskip("rioxarray")


@pytest.fixture(scope="module")
def runner(checkpoint):
    return TorchRunner(perturbed_model("lora", "linear", checkpoint))


def test_a_dataarray_predicts_as_its_file_does(tmp_path, runner):
    data = chip_pixels(Window(60, 0, 140, 120))
    data[:, :8, :8] = 0  # nodata
    scene = write_like(tmp_path / "scene.tif", data)
    report = predict_raster(scene, None, runner, probabilities=True, probability_dtype="float32")
    with rasterio.open(report.output) as out, rasterio.open(report.probabilities) as proba:
        expected_classes, expected_proba, transform = out.read(1), proba.read(), out.transform
    array = rioxarray.open_rasterio(scene)  # 13 bands, described B1 ... B12
    classes, probabilities = predict_array(array, runner, probabilities=True)
    np.testing.assert_array_equal(classes.values, expected_classes)
    np.testing.assert_allclose(probabilities.values, expected_proba, atol=1e-6, equal_nan=True)
    assert classes.rio.crs == array.rio.crs and classes.rio.transform() == transform
    assert list(probabilities["class"].values) == ["not water", "water"]
    # numpy: the model's bands in order
    picked = data[[1, 2, 3, 8, 11, 12]]
    np.testing.assert_array_equal(predict_array(picked, runner, nodata=0), expected_classes)
