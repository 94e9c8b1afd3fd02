"""``geoadapters convert``: a TerraTorch config and checkpoint become an adapter folder."""

from pathlib import Path

import geoadapters
from geoadapters.cli.main import main
from tests.conftest import HLS_CHIP, S2_CHIP
from tests.convert.terratorch_files import (
    hand_model,
    model_args,
    terratorch_state,
    write_checkpoint,
    write_config,
)


def test_convert_command_writes_full_and_lora_folders(tmp_path: Path, checkpoint: Path) -> None:
    """The CLI: exact without a base; a LoRA with agreement on the real chips; errors are one line."""
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
