"""Date, place and GSD from the scene, passed to the models that take them (Prithvi -TL, Clay)."""

import dataclasses
import datetime

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

import geoadapters
from geoadapters.config import Inference
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.metadata import acquisition_date
from geoadapters.raster.read import Scene
from geoadapters.specs import SceneMetadata
from tests.conftest import DATA, HLS_CHIP, S1F11
from tests.heads.conftest import SMALL_CLAY

# A real HLS Burn Scars granule name and grid (tests/data/ATTRIBUTION.md); the image of that granule
# is `<name>_merged.tif` in the dataset.
HLS_30M = dataclasses.replace(S1F11, gsd=30)
BURN_MASK = DATA / "burn_scars" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"


@pytest.fixture(scope="module")
def hls_scene(tmp_path_factory):
    """The HLS chip's Prithvi bands on the burn-scar granule's grid, under that granule's image name."""
    path = tmp_path_factory.mktemp("hls") / BURN_MASK.name.replace(".mask.tif", "_merged.tif")
    with rasterio.open(HLS_CHIP) as src:
        pixels = src.read([2, 3, 4, 5, 6, 7], window=Window(0, 0, 64, 64))
    with rasterio.open(BURN_MASK) as grid:
        profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 6, "dtype": "float32"}
        profile |= {"crs": grid.crs, "transform": grid.transform, "nodata": -9999}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
        for i, name in enumerate(S1F11.bands, start=1):
            dst.set_band_description(i, name)
    return path


def test_date_and_centre_come_from_the_hls_name_and_the_transform(hls_scene):
    with Scene(hls_scene, S1F11.bands) as opened:
        scene = opened.metadata()
        overridden = opened.metadata(SceneMetadata((datetime.date(2020, 1, 2),), lat=1.0))
    assert scene.dates == (datetime.date(2018, 10, 12),)  # day 285 of 2018
    # MGRS tile 10TGS: UTM zone 10 (126-120 W), latitude band T (40-48 N), at the zone's east edge
    assert 40 <= scene.lat <= 48 and -121 <= scene.lon <= -119
    assert scene.gsd == 30
    assert (
        overridden.dates == (datetime.date(2020, 1, 2),)
        and overridden.lat == 1
        and overridden.lon == scene.lon
    )


def test_dates_in_tags_and_other_names():
    with rasterio.open(HLS_CHIP) as src:
        assert acquisition_date(src, "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP.tif") == datetime.date(
            2017, 6, 13
        )
        assert acquisition_date(src, "HLS.L30.T14RNV.2020150T170000.v2.0.tif") == datetime.date(2020, 5, 29)
        assert acquisition_date(src, HLS_CHIP) is None


def test_tl_model_gets_the_scene_metadata(tmp_path, hls_scene):
    torch.manual_seed(0)
    model = geoadapters.create(
        "prithvi-v2-tiny-tl", "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=64, overlap=0), depth=1,
    ).eval()  # fmt: skip
    report = predict_raster(
        hls_scene, tmp_path / "out.tif", TorchRunner(model), probabilities=True, probability_dtype="float32"
    )
    with rasterio.open(hls_scene) as src, Scene(hls_scene, S1F11.bands) as opened:
        raw = torch.from_numpy(src.read().astype("float32"))[None]
        lat, lon = opened.metadata().lat, opened.metadata().lon
    x = model.normalize(raw)
    with torch.no_grad():
        given = model(
            x, temporal_coords=torch.tensor([[[2018.0, 285.0]]]), location_coords=torch.tensor([[lat, lon]])
        )
        without = model(x)
    with rasterio.open(report.probabilities) as proba:
        written = proba.read()
    np.testing.assert_allclose(written, torch.softmax(given, 1)[0].numpy(), atol=1e-5)
    assert np.abs(torch.softmax(without, 1)[0].numpy() - written).max() > 1e-3  # the metadata matter


def test_clay_runs_at_its_contracts_gsd_not_one_metre():
    torch.manual_seed(0)
    model = geoadapters.create(
        "clay-v1", "linear_probe", "linear", classes=["a", "b"], pretrained=False,
        inference=Inference(tile_size=64, overlap=0), **SMALL_CLAY,
    ).eval()  # fmt: skip
    assert model.input_spec.gsd == 10  # Sentinel-2 L2A, as in Clay's configs/metadata.yaml
    x = torch.randn(1, len(model.input_spec.bands), 32, 32)
    with torch.no_grad():
        default = model(x)
        features = model.encoder.forward_features(x, gsd=10.0)
        np.testing.assert_allclose(default, model.head(features, (32, 32)), atol=1e-6)
        assert (default - model.head(model.encoder.forward_features(x, gsd=1.0), (32, 32))).abs().max() > 1e-4
