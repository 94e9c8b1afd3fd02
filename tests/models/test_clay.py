import numpy as np
import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.errors import BandError, CheckpointError
from geoadapters.models.clay import clay_sincos_1d, clay_sincos_2d
from tests.conftest import DATA
from tests.models.official import clay_checkpoint, reference_keys

REFERENCE = DATA / "reference" / "prithvi_state_dict.txt"
BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]


def test_state_dict_equals_reference_dump():
    rows, counts = reference_keys(REFERENCE, "clay_v1_base")
    with torch.device("meta"):
        model = create_backbone("clay-v1", pretrained=False)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    reference = {name.removeprefix("clay_encoder."): shape for name, shape in rows}
    assert reference.items() <= ours.items()  # the dump lists layer 0 and the keys outside layers
    assert all(
        k in reference or (k.startswith("transformer.layers.") and not k.startswith("transformer.layers.0."))
        for k in ours
    )
    assert len(ours) == counts["keys"]
    assert sum(p.numel() for p in model.parameters()) == counts["params"]


def test_lightning_checkpoint_loads_encoder_bit_identical(tmp_path):
    model = create_backbone("clay-v1", pretrained=False, depth=2)
    path = tmp_path / "clay-v1-base.ckpt"
    expected = clay_checkpoint(path, model.state_dict())
    loaded = create_backbone("clay-v1", checkpoint=path, depth=2, bands=BANDS)
    state = loaded.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    with pytest.raises(CheckpointError, match="missing"):
        create_backbone("clay-v1", checkpoint=path, depth=3)


def test_position_code_matches_float64_formula():
    dim, gsd, h, w = 760, 10.0, 3, 5
    k = np.arange(dim // 4) / (dim // 4 - 1)
    omega = 1.0 / 10000 ** (2 * k / dim) * gsd
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x, y = np.outer(xs.ravel(), omega), np.outer(ys.ravel(), omega)
    expected = np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)
    np.testing.assert_allclose(clay_sincos_2d(h, w, dim, gsd).numpy(), expected, atol=1e-5)
    waves = torch.tensor([0.493, 2.19], dtype=torch.float64)
    omega = 1.0 / 10000 ** (np.arange(64) / 63)
    angles = np.outer(waves.numpy(), omega)
    np.testing.assert_allclose(
        clay_sincos_1d(waves, 128).numpy(), np.concatenate([np.sin(angles), np.cos(angles)], 1), atol=1e-6
    )


def test_band_order_does_not_matter():
    """The patch kernel is generated per band from its wavelength: permuting bands and input agrees."""
    torch.manual_seed(0)
    model = create_backbone("clay-v1", pretrained=False, depth=2, bands=BANDS).eval()
    permuted = create_backbone("clay-v1", pretrained=False, depth=2, bands=BANDS[::-1]).eval()
    permuted.load_state_dict(model.state_dict())
    x = torch.randn(2, 6, 32, 48)
    time, latlon = torch.randn(2, 4), torch.randn(2, 4)
    with torch.no_grad():
        a = model(x, time=time, latlon=latlon, gsd=10.0)
        b = permuted(x.flip(1), time=time, latlon=latlon, gsd=10.0)
    assert a[-1].shape == (2, 1 + 4 * 6, 768)
    torch.testing.assert_close(a[-1], b[-1], atol=1e-4, rtol=1e-4)


def test_unknown_band_is_an_error_not_a_zero_wavelength():
    with pytest.raises(BandError, match="unknown band 'NIR_WIDE'"):
        create_backbone("clay-v1", pretrained=False, bands=["RED", "NIR_WIDE"])
