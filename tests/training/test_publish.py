"""The documented CPU smoke run, its card and a prediction with it; DDP on 2 CPU processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
from huggingface_hub import ModelCard

import geoadapters
from geoadapters.cli.main import main as geoadapters_main
from tests.conftest import S2_CHIP
from tests.training.runs import QUICK, recipe
from training.__main__ import main

ROOT = Path(__file__).parents[2]
# The SMALL architecture of tests/conftest.py, so its official-layout checkpoint loads the adapters.
OVERRIDES = "{depth: 4, embed_dim: 64, num_heads: 4}"


def smoke_args(root, splits, tmp_path):
    return [
        "--config", recipe("prithvi-300/sen1floods11-lora.yaml"), "--data.root", str(root),
        "--data.splits", str(splits), "--data.batch_size", "2", "--model.pretrained", "false",
        "--model.overrides", OVERRIDES, "--trainer.default_root_dir", str(tmp_path), *QUICK,
        "--trainer.max_epochs", "1",
    ]  # fmt: skip


def test_smoke_run_card_and_prediction_of_a_real_chip(sen1floods11, tmp_path, checkpoint):
    root, splits = sen1floods11
    out = tmp_path / "sen1floods11-lora"
    on_weights = ["--model.checkpoint", str(checkpoint)]  # the test base's official-layout weights
    assert main(["fit", *smoke_args(root, splits, tmp_path), *on_weights, "--output", str(out)]) == 0
    config = json.loads((out / "geoadapter.json").read_text())
    assert set(config["metrics"]) == {"same_dist", "bolivia"}
    assert config["provenance"]["base_weights"] == "official" and config["base"]["pretrained"]
    assert config["provenance"]["recipe"] == ["training/recipes/prithvi-300/sen1floods11-lora.yaml"]
    assert config["input"]["scale"] == 0.0001 and config["inference"]["tile_size"] == 512

    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    assert (data["library_name"], data["base_model"]) == (
        "geoadapters",
        "ibm-nasa-geospatial/Prithvi-EO-2.0-300M",
    )
    assert data["base_model_relation"] == "adapter" and data["pipeline_tag"] == "image-segmentation"
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("bolivia", "mean_iou")] == config["metrics"]["bolivia"]["mIoU"]
    assert "90.04 ± 0.17" in card.text and "87.58 ± 0.77" in card.text  # the paper's LoRA row

    prediction = tmp_path / "pred.tif"
    code = geoadapters_main(
        ["predict", str(S2_CHIP), "--model", "prithvi-300", "--adapter", str(out),
         "--checkpoint", str(checkpoint), "-o", str(prediction)]
    )  # fmt: skip
    assert code == 0
    with rasterio.open(prediction) as dst, rasterio.open(S2_CHIP) as src:
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
    model = geoadapters.load("prithvi-300", out, checkpoint=checkpoint)
    assert model.classes == ("Not water", "Water")


def test_an_existing_output_is_refused_before_training(sen1floods11, tmp_path, capsys):
    root, splits = sen1floods11
    (tmp_path / "taken").mkdir()
    assert main(["fit", *smoke_args(root, splits, tmp_path), "--output", str(tmp_path / "taken")]) == 1
    assert "exists" in capsys.readouterr().err
    assert not list(tmp_path.glob("lightning_logs/*/checkpoints"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_writes_one_folder(cashew, tmp_path, checkpoint):
    root, _ = cashew
    out = tmp_path / "out" / "adapter"
    command = [
        sys.executable, "-m", "training", "fit",
        "--config", recipe("prithvi-300/m_cashew_plantation-lora.yaml"), "--data.root", str(root),
        "--data.batch_size", "1", "--model.pretrained", "false", "--model.overrides", OVERRIDES,
        *QUICK, "--trainer.max_epochs", "1", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--model.checkpoint", str(checkpoint), "--output", str(out),
    ]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stderr[-3000:]
    # one adapter folder, and Lightning's logs and checkpoints beside it, not in the working folder
    assert sorted(p.name for p in out.parent.iterdir()) == ["adapter", "adapter-runs"]
    assert not (tmp_path / "lightning_logs").exists()
    assert result.stdout.count("adapter folder:") == 1
    config = json.loads((out / "geoadapter.json").read_text())
    assert config["provenance"]["hardware"].startswith("2 x CPU")
    geoadapters.load("prithvi-300", out, checkpoint=checkpoint)
