import math
import pickle

import numpy as np
import pytest
import rasterio
import torch

from geoadapters import get_base, list_models
from geoadapters.backbone import create_backbone
from geoadapters.bands import band_indices
from geoadapters.errors import CheckpointError, InputShapeError, NewBandWarning, WeightsNotFoundError
from tests.conftest import DATA, HLS_CHIP, HLS_CHIP_BANDS, SMALL
from tests.models.official import prithvi_checkpoint, reference_keys

REFERENCE = DATA / "reference" / "prithvi_state_dict.txt"


def vit_param_count(dim: int, depth: int, bands: int, patch: int, tl: bool) -> int:
    # cls + patch conv (+bias) + depth x (2 norms, qkv, proj, fc1, fc2) + final norm (+ 2 scales)
    block = (
        2 * 2 * dim
        + (3 * dim * dim + 3 * dim)
        + (dim * dim + dim)
        + (4 * dim * dim + 4 * dim)
        + (4 * dim * dim + dim)
    )
    return dim + bands * patch * patch * dim + dim + depth * block + 2 * dim + (2 if tl else 0)


# --- architecture at full size ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "section"),
    [("prithvi-300", "prithvi_eo_v2_300 (pretrained"), ("prithvi-100", "prithvi_eo_v1_100")],
)
def test_state_dict_equals_reference_dump(name, section):
    rows, counts = reference_keys(REFERENCE, section)
    with torch.device("meta"):
        model = create_backbone(name, pretrained=False)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == rows
    assert len(ours) == counts["keys"]
    assert sum(p.numel() for p in model.parameters()) == counts["params"]


def test_reference_figures_of_design():
    with torch.device("meta"):
        large = create_backbone("prithvi-300", pretrained=False)
        base = create_backbone("prithvi-100", pretrained=False)
    assert len(large.state_dict()) == 294
    assert sum(p.numel() for p in large.parameters()) == 303_886_336
    assert sum(p.numel() for p in base.parameters()) == 86_237_184


def test_tl_model_adds_learned_metadata_scales():
    rows, counts = reference_keys(REFERENCE, "prithvi_eo_v2_300_tl")
    with torch.device("meta"):
        model = create_backbone("prithvi-300-tl", pretrained=False)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(rows) <= set(ours.items())
    assert len(ours) == counts["keys"]
    assert sum(p.numel() for p in model.parameters()) == counts["params"]


def test_four_frame_model_has_the_pretraining_position_grid():
    rows, _ = reference_keys(REFERENCE, "prithvi_eo_v2_300 num_frames=4")
    with torch.device("meta"):
        model = create_backbone("prithvi-300", pretrained=False, num_frames=4)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(rows) <= set(ours.items())


@pytest.mark.parametrize("name", list_models("prithvi"))
def test_every_prithvi_parameter_count_follows_the_vit_formula(name):
    spec = get_base(name)
    with torch.device("meta"):
        model = create_backbone(name, pretrained=False)
    arch = spec.arch
    expected = vit_param_count(arch.embed_dim, arch.depth, 6, arch.patch_size, bool(arch.coords_encoding))
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.features.channels == (arch.embed_dim,) * arch.depth


# --- loading official checkpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version", "tl"),
    [("prithvi-300", 2, False), ("prithvi-300-tl", 2, True), ("prithvi-100", 1, False)],
)
def test_official_layout_loads_bit_identical(tmp_path, name, version, tl):
    path = tmp_path / "official.pt"
    expected = prithvi_checkpoint(path, dim=64, depth=SMALL["depth"], version=version, tl=tl)
    model = create_backbone(name, checkpoint=path, **SMALL)
    state = model.state_dict()
    assert set(state) == set(expected) | {"pos_embed"}
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    # the file's 4-frame position embedding is not taken: the model's own 1-frame code is kept
    assert state["pos_embed"].shape == (1, 197, 64)


def test_band_subset_takes_the_pretrained_slices(tmp_path):
    path = tmp_path / "official.pt"
    expected = prithvi_checkpoint(path, dim=64, depth=SMALL["depth"])
    model = create_backbone("prithvi-300", checkpoint=path, bands=["RED", "GREEN", "BLUE", "B8A"], **SMALL)
    weight = model.patch_embed.proj.weight
    for i, j in enumerate([2, 1, 0, 3]):  # positions in BLUE, GREEN, RED, NIR_NARROW, SWIR_1, SWIR_2
        assert torch.equal(weight[:, i], expected["patch_embed.proj.weight"][:, j])
    assert model.spec.input.bands == ("RED", "GREEN", "BLUE", "NIR_NARROW")
    assert model.spec.input.mean == (1433.0, 1342.0, 1087.0, 2734.0)


def test_band_superset_warns_and_keeps_new_bands_random(tmp_path):
    path = tmp_path / "official.pt"
    expected = prithvi_checkpoint(path, dim=64, depth=SMALL["depth"])
    bands = ["BLUE", "GREEN", "RED", "RED_EDGE_1", "NIR_NARROW", "SWIR_1", "SWIR_2"]
    with pytest.warns(NewBandWarning, match="RED_EDGE_1"):
        model = create_backbone("prithvi-300", checkpoint=path, bands=bands, **SMALL)
    weight = model.patch_embed.proj.weight
    assert weight.shape[1] == 7
    assert torch.equal(weight[:, 4], expected["patch_embed.proj.weight"][:, 3])
    assert not any(torch.equal(weight[:, 3], expected["patch_embed.proj.weight"][:, j]) for j in range(6))


def test_checkpoint_of_other_depth_is_a_clear_error(tmp_path):
    path = tmp_path / "official.pt"
    prithvi_checkpoint(path, dim=64, depth=SMALL["depth"])
    with pytest.raises(CheckpointError, match=rf"missing: blocks\.{SMALL['depth']}\."):
        create_backbone("prithvi-300", checkpoint=path, **(SMALL | {"depth": SMALL["depth"] + 1}))
    with pytest.raises(CheckpointError, match="wrong shape"):
        create_backbone("prithvi-300", checkpoint=path, **(SMALL | {"embed_dim": 128}))


def test_truncated_and_missing_checkpoints_are_clear_errors(tmp_path):
    path = tmp_path / "official.pt"
    prithvi_checkpoint(path, dim=64, depth=SMALL["depth"])
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        create_backbone("prithvi-300", checkpoint=truncated, **SMALL)
    with pytest.raises(WeightsNotFoundError):
        create_backbone("prithvi-300", checkpoint=tmp_path / "absent.pt", **SMALL)


class _Payload:
    def __reduce__(self):
        return (open, ("/tmp/geoadapters-pickle-ran", "w"))


# torch warns that plain pickle's protocol 4 is not its own default before refusing the payload
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_in_a_checkpoint_is_never_run(tmp_path):
    marker = "/tmp/geoadapters-pickle-ran"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"cls_token": _Payload()}, f)
    with pytest.raises(CheckpointError):
        create_backbone("prithvi-300", checkpoint=path, **SMALL)
    assert not __import__("os").path.exists(marker)


# --- numerics against independent float64 references -------------------------------------------


def np_sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.outer(pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def np_sincos_3d(dim, t, h, w):
    rows = []
    for ti in range(t):
        for hi in range(h):
            for wi in range(w):
                rows.append(
                    np.concatenate(
                        [
                            np_sincos_1d(dim // 16 * 6, [wi])[0],
                            np_sincos_1d(dim // 16 * 6, [hi])[0],
                            np_sincos_1d(dim // 16 * 4, [ti])[0],
                        ]
                    )
                )
    return np.concatenate([np.zeros((1, dim)), np.array(rows)], axis=0)


def np_bicubic_align_corners(grid, out_h, out_w, a=-0.75):
    """Separable cubic convolution (Keys, a = -0.75) with align_corners sampling and edge clamping."""

    def kernel(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    def matrix(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for o in range(n_out):
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            base = math.floor(src)
            for k in range(-1, 3):
                m[o, min(max(base + k, 0), n_in - 1)] += kernel(src - (base + k))
        return m

    rows, cols = matrix(grid.shape[0], out_h), matrix(grid.shape[1], out_w)
    return np.einsum("oh,hwd->owd", rows, np.einsum("pw,hwd->hpd", cols, grid))


def reference_forward(state, x, pos, heads):
    """A plain float64 ViT: patches by reshaping, explicit attention and layer norm, erf GELU."""
    state = {k: v.double() for k, v in state.items()}
    b, c, h, w = x.shape
    p = 16
    patches = (
        x.double().reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
    )
    weight = state["patch_embed.proj.weight"].reshape(state["patch_embed.proj.weight"].shape[0], -1)
    tokens = patches @ weight.T + state["patch_embed.proj.bias"] + pos[None, 1:]
    cls = state["cls_token"] + pos[None, :1]
    z = torch.cat([cls.expand(b, -1, -1), tokens], dim=1)

    def norm(v, prefix):
        mu = v.mean(-1, keepdim=True)
        var = ((v - mu) ** 2).mean(-1, keepdim=True)
        return (v - mu) / torch.sqrt(var + 1e-5) * state[f"{prefix}.weight"] + state[f"{prefix}.bias"]

    outs = []
    i = 0
    while f"blocks.{i}.norm1.weight" in state:
        s = f"blocks.{i}"
        y = norm(z, f"{s}.norm1")
        qkv = y @ state[f"{s}.attn.qkv.weight"].T + state[f"{s}.attn.qkv.bias"]
        d = z.shape[-1] // heads
        q, k, v = (
            qkv[..., j * z.shape[-1] : (j + 1) * z.shape[-1]].reshape(b, -1, heads, d).transpose(1, 2)
            for j in range(3)
        )
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, -1, z.shape[-1])
        z = z + y @ state[f"{s}.attn.proj.weight"].T + state[f"{s}.attn.proj.bias"]
        y = norm(z, f"{s}.norm2") @ state[f"{s}.mlp.fc1.weight"].T + state[f"{s}.mlp.fc1.bias"]
        y = 0.5 * y * (1 + torch.special.erf(y / math.sqrt(2)))
        z = z + y @ state[f"{s}.mlp.fc2.weight"].T + state[f"{s}.mlp.fc2.bias"]
        outs.append(z)
        i += 1
    outs[-1] = norm(z, "norm")
    return outs


def test_position_embedding_equals_float64_formula():
    model = create_backbone("prithvi-300", pretrained=False, **SMALL)
    expected = np_sincos_3d(64, 1, 14, 14)
    np.testing.assert_allclose(model.pos_embed[0].numpy(), expected, atol=1e-7, rtol=0)
    model = create_backbone("prithvi-600", pretrained=False, depth=1, embed_dim=80, num_heads=4, num_frames=2)
    np.testing.assert_allclose(model.pos_embed[0].numpy(), np_sincos_3d(80, 2, 16, 16), atol=1e-7, rtol=0)


@pytest.mark.parametrize("size", [(224, 224), (256, 320)])
def test_forward_matches_float64_reference(tmp_path, size):
    path = tmp_path / "official.pt"
    prithvi_checkpoint(path, dim=64, depth=SMALL["depth"])
    model = create_backbone("prithvi-300", checkpoint=path, **SMALL).eval()
    x = torch.randn(2, 6, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.forward_features(x)
    grid = np_sincos_3d(64, 1, 14, 14)
    patch_grid = np_bicubic_align_corners(grid[1:].reshape(14, 14, 64), size[0] // 16, size[1] // 16)
    pos = torch.from_numpy(np.concatenate([grid[:1], patch_grid.reshape(-1, 64)]))
    expected = reference_forward(model.state_dict(), x, pos, heads=4)
    assert [o.shape for o in ours] == [(2, 1 + size[0] * size[1] // 256, 64)] * SMALL["depth"]
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a.double(), b, atol=2e-5, rtol=1e-4)


def test_metadata_encoders_match_float64_formula():
    model = create_backbone("prithvi-300-tl", pretrained=False, **SMALL).eval()
    x = torch.zeros(1, 6, 3, 32, 32)
    temporal = torch.tensor([[[2018.0, 185.0], [2019.0, 3.0], [2020.0, 300.0]]])
    location = torch.tensor([[38.1, -0.76]])
    with torch.no_grad():
        plain = model.embed(x)
        coded = model.embed(x, temporal, location)
    added = (coded - plain)[0, 1:].double().numpy().reshape(3, 4, 64)
    scale = 0.1  # learned scale at initialisation
    for t in range(3):
        time_code = np.concatenate(
            [np_sincos_1d(32, [temporal[0, t, 0].item()]), np_sincos_1d(32, [temporal[0, t, 1].item()])], 1
        )
        loc_code = np.concatenate([np_sincos_1d(32, [38.1]), np_sincos_1d(32, [-0.76])], 1)
        expected = scale * (time_code + loc_code)
        np.testing.assert_allclose(added[t], np.repeat(expected, 4, axis=0), atol=2e-5)


# --- inputs -------------------------------------------------------------------------------------


def test_real_hls_chip_forward_with_bands_selected_by_name():
    model = create_backbone("prithvi-300", pretrained=False, **SMALL).eval()
    spec = model.spec.input
    with rasterio.open(HLS_CHIP) as src:
        data = src.read().astype("float32")
        nodata = src.nodata
    index = band_indices(HLS_CHIP_BANDS, spec.bands)
    assert index == [1, 2, 3, 4, 5, 6]  # 1-based bands 2-7 of the L30 chip
    chip = data[index]
    mean = np.asarray(spec.mean, dtype="float32")[:, None, None]
    std = np.asarray(spec.std, dtype="float32")[:, None, None]
    chip = np.where(chip == nodata, mean, chip)  # nodata becomes 0 after normalisation
    x = torch.from_numpy((chip - mean) / std)
    with torch.no_grad():
        features = model(x[None])
    assert [f.shape for f in features] == [(1, 197, 64)] * SMALL["depth"]
    assert all(torch.isfinite(f).all() for f in features)
    # several dates of the same place: (B, C, T, H, W) gives T x 196 tokens
    with torch.no_grad():
        features = model(x[None, :, None].expand(-1, -1, 3, -1, -1))
    assert features[-1].shape == (1, 1 + 3 * 196, 64)


def test_bad_inputs_are_clear_errors():
    model = create_backbone("prithvi-300", pretrained=False, **SMALL)
    with pytest.raises(InputShapeError, match="takes 6 bands"):
        model(torch.zeros(1, 4, 32, 32))
    with pytest.raises(InputShapeError, match="not divisible"):
        model(torch.zeros(1, 6, 30, 32))
    with pytest.raises(InputShapeError, match="no time encoder"):
        model(torch.zeros(1, 6, 32, 32), temporal_coords=torch.zeros(1, 1, 2))
    with pytest.raises(TypeError, match="no setting"):
        create_backbone("prithvi-300", pretrained=False, dept=2)
