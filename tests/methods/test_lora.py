import pytest
import torch
from peft.tuners.lora import LoraLayer

from geoadapters.backbone import create_backbone
from geoadapters.methods import add_adapter
from geoadapters.methods.lora import QKVSplit, merge_lora, unload_lora, unmerge_lora
from tests.conftest import TEST_BASE


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("name", "expected"), [("prithvi-300", 5_505_024), ("prithvi-100", 2_064_384), ("clay-v1", 2_064_384)]
)
def test_paper_settings_give_the_reference_trainable_counts(name, expected):
    with torch.device("meta"):
        encoder = create_backbone(name, pretrained=False)
        total = sum(p.numel() for p in encoder.parameters())
        add_adapter(encoder, "lora")
    assert trainable(encoder) == expected
    if name == "prithvi-300":
        assert round(100 * expected / total, 1) == 1.8


def test_only_lora_matrices_train_and_qkv_is_split():
    encoder = add_adapter(create_backbone(TEST_BASE, pretrained=False), "lora")
    names = [n for n, p in encoder.named_parameters() if p.requires_grad]
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names)
    assert {n.split(".lora_")[0].split("blocks.0.")[-1] for n in names if n.startswith("blocks.0.")} == {
        "attn.qkv.q_linear",
        "attn.qkv.v_linear",
        "mlp.fc1",
        "mlp.fc2",
    }
    assert isinstance(encoder.blocks[0].attn.qkv, QKVSplit)


def randomise_lora(encoder):
    gen = torch.Generator().manual_seed(3)
    for name, p in encoder.named_parameters():
        if "lora_" in name:
            p.data = torch.randn(p.shape, generator=gen) * 0.05


def test_split_qkv_computes_the_same_function():
    torch.manual_seed(0)
    plain = create_backbone(TEST_BASE, pretrained=False).eval()
    adapted = create_backbone(TEST_BASE, pretrained=False).eval()
    adapted.load_state_dict(plain.state_dict())
    add_adapter(adapted, "lora")  # lora_B starts at zero: the function is unchanged
    x = torch.randn(2, 6, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(adapted(x)[-1], plain(x)[-1], atol=1e-5, rtol=1e-5)


def test_merge_unmerge_and_unload_keep_the_logits():
    torch.manual_seed(0)
    base = create_backbone(TEST_BASE, pretrained=False).eval()
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    encoder = add_adapter(base, "lora")
    randomise_lora(encoder)
    x = torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        expected = encoder(x)[-1]
        merge_lora(encoder)
        merged = encoder(x)[-1]
        unmerge_lora(encoder)
        unmerged = encoder(x)[-1]
    torch.testing.assert_close(merged, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unmerged, expected, atol=1e-5, rtol=1e-5)
    # independent check of one merged weight: W + alpha / r * B @ A in float64
    layer = encoder.blocks[1].mlp.fc2
    delta = layer.lora_B["default"].weight.double() @ layer.lora_A["default"].weight.double()
    reference = base_state["blocks.1.mlp.fc2.weight"].double() + 16 / 16 * delta
    unload_lora(encoder)
    assert not any(isinstance(m, LoraLayer | QKVSplit) for m in encoder.modules())
    assert [(k, v.shape) for k, v in encoder.state_dict().items()] == [
        (k, v.shape) for k, v in base_state.items()
    ]
    torch.testing.assert_close(encoder.blocks[1].mlp.fc2.weight.double(), reference, atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x)[-1], expected, atol=1e-5, rtol=1e-5)


def test_clay_targets_its_own_modules():
    encoder = add_adapter(
        create_backbone("clay-v1", pretrained=False, depth=2, dim=64, heads=4, dim_head=16), "lora"
    )
    names = {n.split(".lora_")[0] for n, p in encoder.named_parameters() if p.requires_grad}
    assert names == {
        f"transformer.layers.{i}.{m}"
        for i in range(2)
        for m in ("0.to_qkv.q_linear", "0.to_qkv.v_linear", "1.net.1", "1.net.3")
    }
