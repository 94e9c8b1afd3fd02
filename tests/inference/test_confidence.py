"""Uncertainty and test-time augmentation: the uncertainty COG's range and where it peaks, TTA on a model
that is symmetric by construction (a per-pixel model: nothing changes), and ``d4`` on the real chip
against the mean of the eight transformed predictions computed by hand with the model itself."""

import array_api_compat.torch as xp_torch
import numpy as np
import pytest
import rasterio
import torch

import geoadapters
from geoadapters.config import AdapterConfig
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.request import PredictOptions
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.inference.tta import TRANSFORMS, AugmentedRunner
from geoadapters.raster.outputs import probability_path, uncertainty_path
from tests.conftest import S2_CHIP


@pytest.fixture(scope="module")
def runner():
    return TorchRunner(geoadapters.load(geoadapters.DEFAULT_ADAPTER))


def test_uncertainty_is_one_minus_the_largest_probability_and_peaks_where_classes_are_close(tmp_path, runner):
    report = predict_raster(
        S2_CHIP,
        tmp_path / "map.tif",
        runner,
        probabilities=True,
        probability_dtype="float32",
        uncertainty=True,
    )
    assert report.uncertainty == uncertainty_path(report.output)
    with rasterio.open(report.uncertainty) as ds, rasterio.open(probability_path(report.output)) as proba:
        doubt, p = ds.read(1), proba.read().astype(np.float64)
        assert ds.dtypes == ("float32",) and np.isnan(ds.nodata)
    valid = np.isfinite(doubt)
    assert valid.mean() > 0.99
    k = p.shape[0]
    assert (doubt[valid] >= 0).all() and (doubt[valid] <= 1 - 1 / k + 1e-6).all()
    np.testing.assert_allclose(doubt[valid], 1 - p.max(axis=0)[valid], atol=1e-6)
    # highest where the two probabilities are closest: the pixel of the largest uncertainty has the
    # smallest gap between them, and the order of the two agrees everywhere
    gap = np.abs(p[0] - p[1])
    assert gap[valid][np.argmax(doubt[valid])] == pytest.approx(gap[valid].min(), abs=1e-6)
    order = np.argsort(gap[valid][:5000])
    assert (np.diff(doubt[valid][:5000][order]) <= 1e-6).all()


class PixelRunner:
    """A per-pixel linear model (a 1 x 1 convolution): symmetric under flips and rotations by construction."""

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.description = "per-pixel"
        self.xp = xp_torch
        self.device = torch.device("cpu")
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.randn(len(config.classes), len(config.input.bands), generator=generator)

    def __call__(self, raw, scene=None):
        x = torch.from_numpy(np.ascontiguousarray(raw)) * 1e-4
        return torch.einsum("kc,bchw->bkhw", self.weight, x)

    def fitting_batch(self, tile):
        return None


@pytest.mark.parametrize("mode", ["flips", "d4"])
def test_tta_leaves_a_symmetric_model_unchanged(tmp_path, runner, mode):
    pixel = PixelRunner(runner.config)
    plain = predict_raster(
        S2_CHIP, tmp_path / "plain.tif", pixel, probabilities=True, probability_dtype="float32"
    )
    augmented = predict_raster(
        S2_CHIP, tmp_path / "tta.tif", pixel, probabilities=True, probability_dtype="float32", tta=mode
    )
    assert "tta" in augmented.runner
    with (
        rasterio.open(probability_path(plain.output)) as a,
        rasterio.open(probability_path(augmented.output)) as b,
    ):
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-6)


def test_d4_equals_the_mean_of_the_eight_transformed_predictions(tmp_path, runner):
    with rasterio.open(S2_CHIP) as ds:
        tile = 128
        raw = ds.read([2, 3, 4, 9, 12, 13], window=((0, tile), (0, tile))).astype(np.float32)
    expected = np.zeros((2, tile, tile))
    model = runner.model
    with torch.inference_mode():
        for turns in range(4):
            for mirror in (False, True):
                x = torch.from_numpy(raw[None])
                x = torch.flip(x, (-1,)) if mirror else x
                x = torch.rot90(x, turns, dims=(-2, -1))
                p = torch.softmax(model(model.normalize(x)).double(), dim=1)
                p = torch.rot90(p, -turns, dims=(-2, -1))
                expected += (torch.flip(p, (-1,)) if mirror else p)[0].numpy() / 8
    got = torch.softmax(torch.from_numpy(AugmentedRunner(runner, "d4")(raw[None])).double(), dim=1)[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(TRANSFORMS["d4"]) == 8 and len(set(TRANSFORMS["d4"])) == 8
    # and through predict: one tile, the whole chip cut to it
    cut = tmp_path / "cut.tif"
    with rasterio.open(S2_CHIP) as ds:
        profile = ds.profile | {
            "height": tile,
            "width": tile,
            "transform": ds.window_transform(((0, tile), (0, tile))),
        }
        with rasterio.open(cut, "w", **profile) as dst:
            dst.write(ds.read(window=((0, tile), (0, tile))))
            dst.descriptions = ds.descriptions
    report = predict_raster(
        cut,
        tmp_path / "d4.tif",
        runner,
        tile_size=tile,
        overlap=0,
        tta="d4",
        probabilities=True,
        probability_dtype="float32",
    )
    with rasterio.open(probability_path(report.output)) as ds:
        np.testing.assert_allclose(ds.read(), expected, atol=1e-5)


def test_an_unknown_tta_is_refused():
    with pytest.raises(ValueError, match="tta must be one of flips, d4"):
        PredictOptions(tta="d8")
