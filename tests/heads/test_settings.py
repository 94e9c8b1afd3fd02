import json
import subprocess
import sys

import pytest

from geoadapters.errors import UnknownNameError
from geoadapters.heads import (
    ClassificationSettings,
    FCNSettings,
    LinearSettings,
    UNetSettings,
    UPerNetSettings,
    head_settings,
    list_heads,
)


def test_registry_lists_every_head():
    assert list_heads() == ["linear", "fcn", "upernet", "unet", "classification"]


def test_defaults_are_the_paper_configs():
    """The paper's heads (arXiv 2504.17397, section 3).

    LinearDecoder at the encoder stride; FCN 512 x 4; UPerNet 256; UNet 512..64.
    """
    assert head_settings("linear") == LinearSettings(upsampling=None, layer=-1)
    assert head_settings("fcn") == FCNSettings(channels=512, num_convs=4, layer=-1)
    assert head_settings("upernet") == UPerNetSettings(channels=256, pool_scales=(1, 2, 3, 6), layers=None)
    assert head_settings("unet") == UNetSettings(channels=(512, 256, 128, 64), layers=None)
    assert head_settings("classification") == ClassificationSettings(layer=-1)
    assert [head_settings(n).task for n in list_heads()] == ["segmentation"] * 4 + ["multilabel"]


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("linear", {"upsampling": 8, "layer": 2}),
        ("fcn", {"channels": 64, "num_convs": 2}),
        ("upernet", {"pool_scales": [1, 3], "layers": [0, 1, 2, -1]}),
        ("unet", {"channels": [32, 16, 8, 4], "layers": [3, 7, 11, 15]}),
        ("classification", {"layer": -2}),
    ],
)
def test_settings_round_trip_through_json(name, settings):
    config = head_settings(name, **settings)
    data = json.loads(json.dumps(config.to_dict()))
    assert type(config).from_dict(data) == config
    assert head_settings(name, **data) == config
    assert data == {**head_settings(name).to_dict(), **settings}


def test_lists_are_read_as_tuples():
    config = head_settings("unet", channels=[8, 8, 8, 8], layers=[0, 1, 2, 3])
    assert config.channels == (8, 8, 8, 8)
    assert config.layers == (0, 1, 2, 3)
    hash(config)


def test_unknown_head_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"no head 'uppernet'\. Did you mean 'upernet'"):
        head_settings("uppernet")


def test_unknown_setting_names_the_valid_ones():
    with pytest.raises(TypeError, match=r"no setting chanels; valid settings: channels, num_convs, layer"):
        head_settings("fcn", chanels=256)
    with pytest.raises(TypeError, match="no setting upsampling_size; valid settings: upsampling, layer"):
        LinearSettings.from_dict({"upsampling_size": 16})


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("linear", {"upsampling": 0}, "upsampling must be greater than or equal to 1, got 0"),
        ("linear", {"layer": 1.5}, "layer must be a valid integer, got 1.5"),
        ("fcn", {"channels": "512"}, "channels must be a valid integer, got '512'"),
        ("fcn", {"num_convs": 0}, "num_convs must be greater than or equal to 1"),
        ("upernet", {"pool_scales": []}, r"pool_scales must have at least 1 items"),
        (
            "upernet",
            {"pool_scales": 6},
            r"pool_scales must be a valid array, got 6",
        ),
        (
            "upernet",
            {"pool_scales": [1, -2]},
            r"pool_scales\.1 must be greater than or equal to 1, got -2",
        ),
        ("upernet", {"layers": [5, 11, 23]}, r"layers must have at least 4 items, got 3"),
        ("upernet", {"layers": 23}, r"layers must be a valid array, got 23"),
        ("unet", {"channels": [512, 256, 128]}, r"channels must have at least 4 items, got 3"),
        ("unet", {"channels": [512, 256, True, 64]}, r"channels\.2 must be a valid integer, got True"),
    ],
)
def test_bad_values_are_clear_errors(name, settings, message):
    with pytest.raises(ValueError, match=message):
        head_settings(name, **settings)


def test_settings_and_registry_import_without_torch():
    code = (
        "import sys; from geoadapters.heads import head_settings, list_heads; "
        "head_settings('unet', channels=[8, 8, 8, 8]); list_heads(); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
