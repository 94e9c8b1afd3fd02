import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoadapters.backbone import create_backbone
from geoadapters.errors import AdapterError, InputShapeError
from geoadapters.methods.settings import ViTAdapterSettings
from geoadapters.methods.vit_adapter import (
    MSDeformAttn,
    apply_vit_adapter,
    deform_attn_backend,
    is_adapter_parameter,
)
from geoadapters.methods.vit_adapter.deform_attn import MSDeformAttnFunction, ms_deform_attn_pytorch
from geoadapters.methods.vit_adapter.modules import deform_inputs
from tests.conftest import TEST_BASE


def small_adapter(name=TEST_BASE, settings=None, seed=0):
    torch.manual_seed(seed)
    return apply_vit_adapter(create_backbone(name, pretrained=False), settings)


# --- parameters at full size --------------------------------------------------------------------


def trainable(model):
    return {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(("name", "expected"), [("prithvi-300", 20_057_472), ("prithvi-100", 11_886_368)])
def test_trainable_parameters_equal_reference_figures(name, expected):
    with torch.device("meta"):
        model = apply_vit_adapter(create_backbone(name, pretrained=False))
    assert sum(trainable(model).values()) == expected
    assert all(p.is_meta for p in model.parameters())


def test_trainable_parameters_of_300m_decompose_like_the_reference():
    with torch.device("meta"):
        model = apply_vit_adapter(create_backbone("prithvi-300", pretrained=False))
    counts = trainable(model)
    parts = {}
    for name, n in counts.items():
        part = name.split(".")[0]
        parts[part] = parts.get(part, 0) + n
    norms = sum(parts.pop(f"norm{i}") for i in range(1, 5))
    assert parts == {"interactions": 14_088_576, "level_embed": 3_072, "up": 4_195_328, "spm": 1_762_304}
    assert norms == 8_192
    assert model.interaction_indexes == ((0, 5), (6, 11), (12, 17), (18, 23))
    assert model.interactions[0].injector.attn.n_heads == 16


def test_exactly_the_adapter_trains_and_its_state_has_terratorch_names():
    model = small_adapter(settings=ViTAdapterSettings(with_cffn=True))
    state = model.state_dict()
    adapter = {k for k in state if is_adapter_parameter(k)}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if is_adapter_parameter(n)
    }
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert {k for k in state if k.startswith("backbone.")} == {
        f"backbone.{k}" for k in model.backbone.state_dict()
    }
    # state-dict keys of TerraTorch's PrithviViTAdapter (adapter layers), BatchNorm statistics included
    for key in (
        "level_embed",
        "spm.stem.0.weight",
        "spm.stem.7.running_var",
        "spm.conv4.1.num_batches_tracked",
        "spm.fc4.bias",
        "interactions.0.injector.gamma",
        "interactions.0.injector.attn.sampling_offsets.weight",
        "interactions.2.extractor.ffn.dwconv.dwconv.weight",
        "interactions.3.extra_extractors.1.feat_norm.bias",
        "up.weight",
        "norm4.running_mean",
    ):
        assert key in adapter, key
    assert not any(k.startswith("interactions.2.extra_extractors") for k in state)
    with torch.no_grad():
        maps = model.eval()(torch.randn(1, 6, 64, 96))
    assert [m.shape[-2:] for m in maps] == [(16, 24), (8, 12), (4, 6), (2, 3)]


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (24, ((0, 5), (6, 11), (12, 17), (18, 23))),
        (12, ((0, 2), (3, 5), (6, 8), (9, 11))),
        (4, ((0, 0), (1, 1), (2, 2), (3, 3))),
        (10, ((0, 2), (3, 5), (6, 7), (8, 9))),
    ],
)
def test_default_interactions_split_the_depth_into_four_chunks(depth, expected):
    assert ViTAdapterSettings().blocks_for(depth) == expected


def test_settings_round_trip_through_json_and_reject_bad_values():
    pairs = [[0, 2], [3, 5], [6, 8], [9, 11]]
    settings = ViTAdapterSettings.from_dict({"interaction_indexes": pairs, "deform_num_heads": 8})
    assert settings.interaction_indexes == ((0, 2), (3, 5), (6, 8), (9, 11))
    with pytest.raises(ValueError, match="valid tuple"):  # strict in Python: lists are JSON's tuples
        ViTAdapterSettings(interaction_indexes=pairs)  # type: ignore[arg-type]
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["interaction_indexes"] == [[0, 2], [3, 5], [6, 8], [9, 11]]
    assert ViTAdapterSettings.from_dict(data) == settings
    with pytest.raises(ValueError, match="at least 4 items"):
        ViTAdapterSettings(interaction_indexes=((0, 5), (6, 11)))
    with pytest.raises(ValueError, match="consecutive"):
        ViTAdapterSettings(interaction_indexes=((0, 5), (7, 11), (12, 17), (18, 23)))
    with pytest.raises(ValueError, match="n_points"):
        ViTAdapterSettings(n_points=0)
    with pytest.raises(ValueError, match="deform_ratio"):
        ViTAdapterSettings(deform_ratio=0)
    with pytest.raises(AdapterError, match="last block"):
        settings.blocks_for(24)


# --- deformable attention against an independent float64 reference -----------------------------


def np_bilinear(image, x, y):
    """Bilinear sample of a (C, H, W) array at pixel coordinates (x, y); zero outside the map."""
    _, h, w = image.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = np.zeros(image.shape[0])
    for yy, wy in ((y0, y0 + 1 - y), (y0 + 1, y - y0)):
        for xx, wx in ((x0, x0 + 1 - x), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * image[:, yy, xx]
    return out


def np_deform_attn(module, query, reference, feats, shapes):
    """Deformable attention written out with loops; returns (output, fraction of samples off the maps)."""
    p = {k: v.detach().double().numpy() for k, v in module.state_dict().items()}

    def linear(x, name):
        return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    query, reference, feats = (t.double().numpy() for t in (query, reference, feats))
    n, lq, _ = query.shape
    heads, levels, points = module.n_heads, module.n_levels, module.n_points
    value = linear(feats, "value_proj")
    dh = value.shape[-1] // heads
    offsets = linear(query, "sampling_offsets").reshape(n, lq, heads, levels, points, 2)
    logits = linear(query, "attention_weights").reshape(n, lq, heads, levels * points)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights = (weights / weights.sum(-1, keepdims=True)).reshape(n, lq, heads, levels, points)
    starts = np.concatenate([[0], np.cumsum([h * w for h, w in shapes])])
    out = np.zeros((n, lq, heads * dh))
    outside = 0
    for b in range(n):
        for q in range(lq):
            for m in range(heads):
                for lvl, (h, w) in enumerate(shapes):
                    block = value[b, starts[lvl] : starts[lvl + 1], m * dh : (m + 1) * dh]
                    image = block.T.reshape(dh, h, w)
                    ref = reference[b % reference.shape[0], q, lvl % reference.shape[2]]
                    for k in range(points):
                        loc_x = ref[0] + offsets[b, q, m, lvl, k, 0] / w
                        loc_y = ref[1] + offsets[b, q, m, lvl, k, 1] / h
                        outside += not (0 <= loc_x <= 1 and 0 <= loc_y <= 1)
                        sample = np_bilinear(image, loc_x * w - 0.5, loc_y * h - 0.5)
                        out[b, q, m * dh : (m + 1) * dh] += weights[b, q, m, lvl, k] * sample
    return linear(out, "output_proj"), outside / (n * lq * heads * levels * points)


def randomised(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            # offsets of a few pixels so that samples land between pixels and off the maps
            scale = 0.4 if name.startswith("sampling_offsets") else 0.5
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return module


@pytest.mark.parametrize(
    ("shapes", "heads", "points", "ratio", "ref_batch", "ref_levels"),
    [
        ([(5, 7), (3, 4), (1, 2)], 2, 3, 0.5, 1, 1),
        ([(4, 6)], 4, 2, 1.0, 2, 1),
        ([(6, 3), (2, 5)], 1, 4, 0.5, 2, 2),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_deformable_attention_matches_float64_loops(
    shapes, heads, points, ratio, ref_batch, ref_levels, dtype
):
    generator = torch.Generator().manual_seed(3)
    module = randomised(MSDeformAttn(16, len(shapes), heads, points, ratio), seed=4).to(dtype)
    query = torch.randn(2, 5, 16, generator=generator, dtype=dtype)
    feats = torch.randn(2, sum(h * w for h, w in shapes), 16, generator=generator, dtype=dtype)
    reference = torch.rand(ref_batch, 5, ref_levels, 2, generator=generator, dtype=dtype)
    spatial_shapes = torch.tensor(shapes)
    starts = torch.tensor([0, *np.cumsum([h * w for h, w in shapes])[:-1].tolist()])
    with torch.no_grad():
        ours = module(query, reference, feats, spatial_shapes, starts)
    expected, outside = np_deform_attn(module, query, reference, feats, shapes)
    assert 0.2 < outside < 0.8  # samples both on and off the maps
    error = np.abs(ours.double().numpy() - expected).max()
    assert error < (1e-5 if dtype == torch.float32 else 1e-12), error


def tiny_attention_inputs():
    generator = torch.Generator().manual_seed(5)
    shapes = [(3, 4), (2, 2)]
    value = torch.randn(2, 16, 2, 3, generator=generator, dtype=torch.float64)
    locations = torch.rand(2, 3, 2, 2, 2, 2, generator=generator, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(2, 3, 2, 2, 2, generator=generator, dtype=torch.float64)
    return shapes, value, locations, weights


def test_pytorch_core_has_exact_gradients():
    shapes, *inputs = tiny_attention_inputs()
    inputs = [t.requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(lambda v, loc, w: ms_deform_attn_pytorch(v, shapes, loc, w), inputs)


class PytorchKernel:
    """The two entry points of the compiled extension, computed with the PyTorch core."""

    @staticmethod
    def ms_deform_attn_forward(value, shapes, starts, locations, weights, im2col_step):
        return ms_deform_attn_pytorch(value, shapes.tolist(), locations, weights)

    @staticmethod
    def ms_deform_attn_backward(value, shapes, starts, locations, weights, grad_output, im2col_step):
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in (value, locations, weights)]
            out = ms_deform_attn_pytorch(leaves[0], shapes.tolist(), leaves[1], leaves[2])
            return torch.autograd.grad(out, leaves, grad_output)


def test_extension_wrapper_routes_gradients_to_value_locations_and_weights():
    shapes, *inputs = tiny_attention_inputs()
    inputs = [t.requires_grad_() for t in inputs]
    spatial_shapes = torch.tensor(shapes)
    starts = torch.tensor([0, 12])

    def run(value, locations, weights):
        return MSDeformAttnFunction.apply(
            PytorchKernel, value, spatial_shapes, starts, locations, weights, 64
        )

    assert torch.equal(run(*inputs), ms_deform_attn_pytorch(inputs[0], shapes, inputs[1], inputs[2]))
    assert torch.autograd.gradcheck(run, inputs)


def test_cpu_tensors_take_the_pytorch_path():
    assert deform_attn_backend(torch.zeros(1)) == "pytorch"


def test_offsets_start_as_rays_in_each_head_direction():
    module = MSDeformAttn(32, n_levels=2, n_heads=8, n_points=3)
    directions = torch.tensor([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]])
    expected = directions[:, None, None, :] * torch.arange(1, 4)[None, None, :, None]
    bias = module.sampling_offsets.bias.view(8, 2, 3, 2)
    torch.testing.assert_close(bias, expected.expand(8, 2, 3, 2).float(), atol=1e-5, rtol=0)
    assert not module.sampling_offsets.weight.any()
    assert not module.attention_weights.weight.any() and not module.attention_weights.bias.any()


def test_deform_inputs_put_vit_tokens_at_1_16_and_the_prior_at_1_8_to_1_32():
    to_vit, to_spm = deform_inputs(torch.zeros(1, 6, 64, 96))
    assert to_vit.spatial_shapes.tolist() == [[8, 12], [4, 6], [2, 3]]
    assert to_vit.level_start_index.tolist() == [0, 96, 120]
    assert to_vit.reference_points.shape == (1, 24, 1, 2)
    torch.testing.assert_close(
        to_vit.reference_points[0, 7, 0], torch.tensor([1.5 / 6, 1.5 / 4])
    )  # row 1, col 1
    assert to_spm.spatial_shapes.tolist() == [[4, 6]]
    assert to_spm.query_shapes == ((8, 12), (4, 6), (2, 3))
    assert to_spm.reference_points.shape == (1, 96 + 24 + 6, 1, 2)


# --- the adapter on a small Prithvi -------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 64), (64, 96)])
def test_forward_gives_four_maps_at_strides_4_to_32(size):
    model = small_adapter().eval()
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        maps = model(x)
        single_frame = model(x[:, :, None])
    h, w = size
    assert [m.shape for m in maps] == [(2, 64, h // r, w // r) for r in (4, 8, 16, 32)]
    assert all(torch.equal(a, b) for a, b in zip(maps, single_frame, strict=True))
    features = model.features
    assert (features.kind, features.channels, features.reductions) == ("maps", (64,) * 4, (4, 8, 16, 32))
    assert features.input_multiple == 32
    assert model.spec is model.backbone.spec


def test_injector_is_a_no_op_at_initialisation():
    model = small_adapter().eval()
    x = torch.randn(2, 6, 64, 96)
    outputs = []
    hooks = [b.register_forward_hook(lambda m, i, o: outputs.append(o)) for b in model.backbone.blocks]
    with torch.no_grad():
        model(x)
        for hook in hooks:
            hook.remove()
        tokens = model.backbone.embed(x)[:, 1:]
        for block, output in zip(model.backbone.blocks, outputs, strict=True):
            tokens = block(tokens)
            assert torch.equal(output, tokens)


def test_training_changes_only_the_adapter():
    model = small_adapter()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    adapter_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 64, 64, generator=generator)
    targets = [torch.randn(2, 64, 64 // r, 64 // r, generator=generator) for r in (4, 8, 16, 32)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = sum(F.mse_loss(m, t) for m, t in zip(model(x), targets, strict=True))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(torch.equal(v, backbone_before[k]) for k, v in model.backbone.state_dict().items())
    changed = {
        n
        for n, p in model.named_parameters()
        if n in adapter_before and not torch.equal(p, adapter_before[n])
    }
    assert {f"interactions.{i}.injector.gamma" for i in range(4)} <= changed
    assert {"level_embed", "spm.stem.0.weight", "up.weight", "norm1.weight"} <= changed


def test_metadata_of_tl_models_reaches_the_tokens():
    model = small_adapter("prithvi-300-tl").eval()
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        plain = model(x)
        coded = model(
            x, temporal_coords=torch.tensor([[[2020.0, 150.0]]]), location_coords=torch.tensor([[38.0, -1.0]])
        )
    assert all(a.shape == b.shape and not torch.allclose(a, b) for a, b in zip(plain, coded, strict=True))


def test_bad_inputs_are_clear_errors():
    model = small_adapter()
    with pytest.raises(InputShapeError, match="multiples of 32"):
        model(torch.zeros(1, 6, 48, 64))
    with pytest.raises(InputShapeError, match=r"\(B, C, 1, H, W\)"):
        model(torch.zeros(1, 6, 2, 64, 64))
    with pytest.raises(InputShapeError, match="takes 6 bands"):
        model(torch.zeros(1, 4, 64, 64))


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("clay-v1", {}, "not ClayEncoder"),
        ("decur-s2", {}, "not ResNetEncoder"),
        (TEST_BASE, {"num_frames": 2}, "num_frames=1"),
        ("prithvi-600", {}, "16 px patches"),
        (TEST_BASE, {"depth": 3}, "at least 4 blocks"),
    ],
)
def test_backbones_that_cannot_take_the_adapter_are_clear_errors(name, overrides, match):
    with torch.device("meta"):
        backbone = create_backbone(name, pretrained=False, **overrides)
        with pytest.raises(AdapterError, match=match):
            apply_vit_adapter(backbone)
