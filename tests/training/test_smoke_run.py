"""The smoke run of docs/training.md, as the docs write it, in a fresh folder: sample data, fit, predict
with the result, and test it again from its folder, which reproduces the metrics it records."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).parents[2]
GUIDE = ROOT / "docs" / "training.md"

pytestmark = pytest.mark.slow  # two LightningCLI runs and a prediction: ~1 minute on 2 cores


def documented_commands() -> list[list[str]]:
    """The commands of the block under the guide's ``smoke-run`` marker, continuation lines joined."""
    text = GUIDE.read_text()
    block = re.search(r"<!-- smoke-run.*?-->\n```bash\n(.*?)```", text, re.S)
    assert block is not None, "docs/training.md has no smoke-run block"
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def test_the_documented_smoke_run_works_as_written(tmp_path):
    for name in ("training", "demo"):  # a fresh folder that sees the checkout as its root would
        (tmp_path / name).symlink_to(ROOT / name)
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    programs = {"python": [sys.executable], "geoadapters": [sys.executable, "-m", "geoadapters.cli.main"]}
    commands = documented_commands()
    assert [c[0] for c in commands] == ["python", "python", "geoadapters", "python"]
    for command in commands:
        done = subprocess.run(
            [*programs[command[0]], *command[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{shlex.join(command)}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
    trained = json.loads((tmp_path / "adapters" / "smoke" / "geoadapter.json").read_text())
    tested = json.loads((tmp_path / "adapters" / "smoke-tested" / "geoadapter.json").read_text())
    assert set(trained["metrics"]) == {"same_dist"}  # the empty Bolivia set is skipped, not NaN
    assert tested["metrics"] == trained["metrics"]
    with rasterio.open(tmp_path / "smoke.tif") as out:
        assert out.shape == (512, 512)
    assert not (tmp_path / "lightning_logs").exists()  # Lightning's files went beside the adapter
    assert (tmp_path / "adapters" / "smoke-runs").is_dir()


def test_two_runs_with_one_seed_write_the_same_adapter_bytes(tmp_path):
    sample, fit = documented_commands()[:2]
    for name in ("training", "demo"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    weights = []
    for run in ("one", "two"):
        for command in (sample, [*fit, "--overwrite", "true"]):
            argv = [a.replace("adapters/smoke", f"adapters/{run}") for a in command[1:]]
            done = subprocess.run(
                [sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr[-3000:]
        weights.append((tmp_path / "adapters" / run / "adapter_model.safetensors").read_bytes())
    assert weights[0] == weights[1]
