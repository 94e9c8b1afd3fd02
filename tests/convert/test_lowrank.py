"""`to_lora`: a full fine-tune of the base with a known rank-r change comes back as a rank-r LoRA."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import geoadapters
from geoadapters.backbone import create_backbone
from geoadapters.convert.lowrank import agreement, to_lora
from tests.convert.terratorch_files import (
    BANDS,
    hand_model,
    model_args,
    reference_logits,
    terratorch_state,
    write_checkpoint,
    write_config,
)

RANK = 3


def _fine_tune(base_checkpoint: Path, tmp_path: Path) -> tuple[Path, Path]:
    """TerraTorch files of the official base + a rank-3 change of every block Linear + some biases."""
    encoder, head = hand_model("upernet", channels=16)
    base = create_backbone("prithvi-300", base_checkpoint, depth=4, embed_dim=64, num_heads=4, bands=BANDS)
    gen = torch.Generator().manual_seed(3)
    state = base.state_dict()
    for name, value in state.items():
        if name.endswith(("attn.qkv.weight", "attn.proj.weight", "fc1.weight", "fc2.weight")):
            out, inp = value.shape
            value += 0.05 * torch.randn(out, RANK, generator=gen) @ torch.randn(RANK, inp, generator=gen)
        elif name.endswith(("norm1.bias", "mlp.fc1.bias")):
            value += 0.05 * torch.randn(value.shape, generator=gen)
    encoder.load_state_dict(state)
    config = write_config(tmp_path / "config.yaml", model_args("UperNetDecoder", decoder_channels=16))
    return config, write_checkpoint(tmp_path / "ft.pt", terratorch_state(encoder, head))


def test_rank_r_recovers_a_rank_r_fine_tune(checkpoint: Path, tmp_path: Path) -> None:
    full = geoadapters.from_terratorch(*_fine_tune(checkpoint, tmp_path))
    x = torch.randn(1, 6, 64, 64, generator=torch.Generator().manual_seed(4))
    lora, report = to_lora(full, RANK, base_checkpoint=checkpoint, inputs=x)
    assert report.energy_kept == pytest.approx(1.0, abs=1e-9)
    assert report.replaced_tensors == 8  # norm1.bias and fc1.bias of 4 blocks
    with torch.no_grad():
        torch.testing.assert_close(lora(x), full(x), atol=1e-4, rtol=1e-4)
    assert report.agreement.pixel_agreement == 1.0 and report.agreement.max_logit_error < 1e-4

    folder = lora.save_pretrained(tmp_path / "adapter")
    saved = json.loads((folder / "geoadapter.json").read_text())
    assert saved["method"]["name"] == "lora" and saved["method"]["settings"]["r"] == RANK
    assert saved["metrics"]["conversion"]["delta_energy_kept"] == pytest.approx(1.0)
    assert "max_logit_error" in (folder / "README.md").read_text()
    tensors = load_file(folder / "adapter_model.safetensors")
    assert any(k.endswith("qkv.k_linear.lora_A.weight") for k in tensors)
    assert "base_model.model.blocks.0.norm1.bias" in tensors
    # a normal LoRA adapter: loads onto the official base
    loaded = geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), lora(x))


@pytest.mark.parametrize("rank", [0, pytest.param(1, marks=pytest.mark.slow), 2])
def test_lower_ranks_report_their_agreement(checkpoint: Path, tmp_path: Path, rank: int) -> None:
    full = geoadapters.from_terratorch(*_fine_tune(checkpoint, tmp_path))
    x = torch.randn(2, 6, 64, 64, generator=torch.Generator().manual_seed(5))
    lora, report = to_lora(full, rank, base_checkpoint=checkpoint, inputs=x)
    with torch.no_grad():
        expected, got = full(x), lora(x)
    assert report.agreement.max_logit_error == pytest.approx(float((expected - got).abs().max()))
    share = float((expected.argmax(1) == got.argmax(1)).float().mean())
    assert report.agreement.pixel_agreement == pytest.approx(share)
    assert report.agreement.max_logit_error > 1e-3  # the change has rank 3: lower ranks lose some of it
    assert lora.config.metrics["conversion"]["max_logit_error"] == report.agreement.max_logit_error
    if rank:
        assert lora.config.method.name == "lora" and 0 < report.energy_kept < 1
    else:
        assert lora.config.method.name == "linear_probe" and report.energy_kept == 0.0


def test_convert_without_base_is_exact(tmp_path: Path) -> None:
    encoder, head = hand_model("unet", channels=[32, 16, 16, 8])
    args = model_args("UNetDecoder", decoder_channels=[32, 16, 16, 8])
    full = geoadapters.from_terratorch(
        write_config(tmp_path / "c.yaml", args),
        write_checkpoint(tmp_path / "m.pt", terratorch_state(encoder, head)),
    )
    folder = full.save_pretrained(tmp_path / "full")
    loaded = geoadapters.load("prithvi-300", folder)
    x = torch.randn(1, 6, 40, 56)
    with torch.no_grad():
        assert torch.equal(loaded(x), full(x))
        torch.testing.assert_close(loaded(x), reference_logits(encoder, head, x), atol=1e-5, rtol=1e-5)
    assert agreement(full, loaded, x).max_logit_error == 0.0
