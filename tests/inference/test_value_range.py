"""A scene far outside the values an adapter was trained on gets a warning on every surface."""

import dataclasses
import warnings

import numpy as np
import pytest
import rasterio

import geoadapters
from geoadapters.cli.main import main
from geoadapters.inference.runners import make_runner
from geoadapters.raster.metadata import ValueRangeWarning
from geoadapters.specs import InputSpec
from tests.conftest import S1F11, S2_CHIP


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    """The chip as an 8-bit RGB (red, green, blue), as a photo would hold it."""
    path = tmp_path_factory.mktemp("rgb") / "rgb.tif"
    with rasterio.open(S2_CHIP) as src:
        data = np.clip(src.read([4, 3, 2]) / 10, 0, 255).astype("uint8")
        profile = src.profile | {"count": 3, "dtype": "uint8", "nodata": None}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def runner():
    return make_runner(geoadapters.load("sen1floods11-tiny"))  # trained on stored values 0-10000


def test_an_8_bit_rgb_for_a_reflectance_adapter_is_warned_about(rgb, runner, tmp_path):
    with pytest.warns(
        ValueRangeWarning, match=r"values reach \d+ .* trained on stored values from 0 to 10000"
    ):
        geoadapters.predict_raster(rgb, tmp_path / "a.tif", runner, bands=["1", "2", "3", "1", "2", "3"])


def test_the_real_chip_and_a_rescaled_rgb_are_not(rgb, runner, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ValueRangeWarning)
        geoadapters.predict_raster(S2_CHIP, tmp_path / "chip.tif", runner)
        # values x 40 reach the adapter's range: the user said how to read them
        bands = ["1", "2", "3", "1", "2", "3"]
        geoadapters.predict_raster(rgb, tmp_path / "b.tif", runner, bands=bands, scale=0.004)


def test_the_command_warns_naming_its_flags(rgb, tmp_path, capsys):
    assert main(["predict", str(rgb), "--bands", "1,2,3,1,2,3", "-o", str(tmp_path / "c.tif")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "(--bands)" in err and "(--scale)" in err


def test_info_shows_the_range_and_bad_ranges_are_refused(capsys):
    assert main(["info", "sen1floods11-tiny"]) == 0
    assert "values   0 to 10000, as stored" in capsys.readouterr().out
    for bad in ((5, 1), (0, float("nan")), (1, 2, 3)):
        with pytest.raises(ValueError, match="value_range"):
            dataclasses.replace(S1F11, value_range=bad)
    assert InputSpec.from_dict(S1F11.to_dict() | {"value_range": [0, 1]}).value_range == (0.0, 1.0)
