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
