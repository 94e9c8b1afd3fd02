"""Published TerraTorch fine-tunes load by short name from a Hub server on 127.0.0.1, converted once."""

from pathlib import Path

import torch

import geoadapters
from geoadapters.cache import cache_dir
from geoadapters.catalog import find_published
from tests.convert.terratorch_files import (
    hand_model,
    model_args,
    terratorch_state,
    write_checkpoint,
    write_config,
)
from tests.hub_server import FakeHub


def test_load_burn_scars_terratorch_from_the_hub(tmp_path: Path, fake_hub: FakeHub) -> None:
    entry = find_published("burn_scars-terratorch", "prithvi-300")
    assert entry is not None
    encoder, head = hand_model("unet", channels=[32, 16, 16, 8])
    config = write_config(
        tmp_path / entry.config, model_args("UNetDecoder", decoder_channels=[32, 16, 16, 8])
    )
    ckpt = write_checkpoint(tmp_path / entry.checkpoint, terratorch_state(encoder, head))
    files = {entry.config: config.read_bytes(), entry.checkpoint: ckpt.read_bytes(), "README.md": b"# card"}
    # served under the pinned revision, as the catalog entry asks for it
    fake_hub.add_files(entry.repo_id, files, branch=entry.revision, lfs=True)

    model = geoadapters.load("prithvi-300", "burn_scars-terratorch")
    assert model.config.method.name == "full" and model.config.name == "burn_scars-terratorch"
    assert model.config.provenance["source"].startswith(entry.repo_id + "@")
    assert model.classes == ("Not burned", "Burn scar")
    expected = geoadapters.from_terratorch(config, ckpt)
    x = torch.randn(1, 6, 48, 80)
    with torch.no_grad():
        assert torch.equal(model(x), expected(x))
    converted = list((cache_dir() / "converted").glob("*/*/adapter_model.safetensors"))
    assert len(converted) == 1
    stamp = converted[0].stat().st_mtime_ns
    geoadapters.load("prithvi-300", "burn_scars-terratorch")  # from the cache: not converted again
    assert converted[0].stat().st_mtime_ns == stamp


def test_convert_command_writes_full_and_lora_folders(tmp_path: Path, checkpoint: Path) -> None:
    """The CLI: exact without a base; a LoRA with agreement on the real chips; errors are one line."""
    from geoadapters.cli.main import main
    from tests.conftest import HLS_CHIP, S2_CHIP

    encoder, head = hand_model("upernet", channels=16)
    config = write_config(tmp_path / "c.yaml", model_args("UperNetDecoder", decoder_channels=16))
    ckpt = write_checkpoint(tmp_path / "m.pt", terratorch_state(encoder, head))
    assert main(["convert", str(config), str(ckpt), "-o", str(tmp_path / "full")]) == 0
    assert (tmp_path / "full" / "geoadapter.json").is_file()
    chips = ["--chip", f"{HLS_CHIP}:2,3,4,5,6,7", "--chip", str(S2_CHIP), "--chip-size", "64"]
    args = ["convert", str(config), str(ckpt), "-o", str(tmp_path / "r2"), "--rank", "2"]
    assert main([*args, "--base-checkpoint", str(checkpoint), *chips]) == 0
    saved = geoadapters.load("prithvi-300", tmp_path / "r2", checkpoint=checkpoint)
    assert saved.config.metrics["conversion"]["pixel_agreement"] <= 1.0
    assert S2_CHIP.name in saved.config.provenance["conversion"]["agreement_inputs"]["from"]
    assert main([*args, "--base-checkpoint", str(checkpoint)]) == 1  # exists: one-line error, nothing lost
