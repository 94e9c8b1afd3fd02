"""The GPU session's prepared check (benchmarks/gpu.py) runs: at toy sizes on the CPU, as CI can."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


@pytest.mark.slow
def test_the_gpu_check_runs_every_path_at_toy_sizes_on_the_cpu():
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--small"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    report = {k: v for line in lines for k, v in line.items() if k != "seconds"}
    assert report["machine"]["device"] == "cpu"
    for precision in ("fp32", "bf16"):
        assert 0 < report["training"][precision]["loss"] < 2  # cross-entropy of 2 classes, from ln 2
    attention = report["deformable_attention"]
    assert attention["backend"] == "pytorch" and attention["max_abs_diff_vs_pytorch"] == 0
    prediction = report["prediction"]
    assert prediction["fp32"]["fitted_batch"] is None  # batches are fitted to GPU memory only
    assert prediction["onnx"]["provider"] == "CPUExecutionProvider"
    assert prediction["onnx"]["class_agreement_vs_torch"] > 0.99
