"""The fast inference path (merged LoRA, meta-device build, memory-mapped checkpoints) changes nothing.

References are built here the slow way: random init, the checkpoint read without mmap and copied in,
PEFT attached and loaded; the fast path must give the same probabilities on the real chip.
"""

import pytest
import torch

from geoadapters.backbone import create_backbone
from geoadapters.factory import load
from geoadapters.geomodel import GeoModel
from geoadapters.heads.build import build_head
from geoadapters.hub.folder import read_config, read_tensors
from geoadapters.methods import add_adapter
from tests.conftest import S1F11, TEST_BASE, perturbed_model

HEAVY = ("peft", "transformers", "torchvision", "timm")


def reference(folder, checkpoint) -> GeoModel:
    """The adapter loaded the way it was before the fast path: every step explicit, PEFT attached."""
    config = read_config(folder)
    encoder = create_backbone(config.base.name, pretrained=False, bands=config.input.bands)
    official = torch.load(checkpoint, map_location="cpu", weights_only=True)
    encoder.load_state_dict(encoder.convert_checkpoint(official, encoder.spec.input.bands), strict=True)
    encoder = add_adapter(encoder, config.method.name, **config.method.to_dict())
    head = build_head(config.head.name, encoder, len(config.classes), **config.head.to_dict())
    model = GeoModel(encoder, head, config)
    model.load_adapter_state_dict(read_tensors(folder))
    return model.eval()


def probabilities(model: GeoModel, raw: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(model.normalize(raw)).softmax(dim=1)


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        ("lora", {}),
        ("lora", {"replaced_tensors": ("norm.weight", "blocks.1.attn.qkv.q_linear.base_layer.bias")}),
        ("lora", {"split_qkv": False, "target_modules": ("attn.qkv", "attn.proj")}),
        ("vpt", {}),
        ("vit_adapter", {}),
        ("linear_probe", {}),
        ("full", {}),
    ],
)
def test_fast_loading_gives_the_probabilities_of_the_slow_path(tmp_path, checkpoint, chip, method, settings):
    model = perturbed_model(method, "linear", checkpoint, **settings)
    if settings.get("replaced_tensors"):
        with torch.no_grad():  # replaced tensors that differ from the base's
            model.encoder.norm.weight.mul_(1.5)
            model.encoder.blocks[1].attn.qkv.q_linear.base_layer.bias.add_(0.3)
    folder = model.save_pretrained(tmp_path / "adapter")
    raw = chip[0][:1]
    expected = probabilities(reference(folder, checkpoint), raw)
    fast = load(folder, checkpoint=checkpoint, merged=True)
    assert fast.merged == (method == "lora")
    for got in (probabilities(fast, raw), probabilities(load(folder, checkpoint=checkpoint), raw)):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    if settings.get("replaced_tensors"):  # the replacement matters: the plain base would differ
        assert not torch.allclose(fast.encoder.norm.weight, torch.load(checkpoint)["encoder.norm.weight"])


def test_a_merged_model_refuses_to_be_saved_as_an_adapter(tmp_path, checkpoint):
    folder = perturbed_model("lora", "linear", checkpoint).save_pretrained(tmp_path / "adapter")
    fast = load(folder, checkpoint=checkpoint, merged=True)
    with pytest.raises(Exception, match="merged into the base weights"):
        fast.save_pretrained(tmp_path / "again")


def test_the_prithvi_block_is_timms():
    from timm.models.vision_transformer import Block

    from geoadapters.models.prithvi import ViTBlock

    torch.manual_seed(0)
    timm_block = Block(64, 4, 4.0, qkv_bias=True, norm_layer=torch.nn.LayerNorm).eval()
    for p in timm_block.parameters():
        torch.nn.init.normal_(p, std=0.2)
    ours = ViTBlock(64, 4, 4.0).eval()
    ours.load_state_dict(timm_block.state_dict(), strict=True)
    x = torch.randn(2, 17, 64)
    torch.testing.assert_close(ours(x), timm_block(x), atol=0, rtol=0)


def test_an_encoder_built_on_meta_from_a_checkpoint_has_every_tensor_and_trains(checkpoint):
    encoder = create_backbone(TEST_BASE, checkpoint, bands=S1F11.bands)
    tensors = [*encoder.parameters(), *encoder.buffers()]
    assert not any(t.is_meta for t in tensors)
    assert not any(p.requires_grad is False for p in encoder.parameters())  # trainable, as built
