"""``geoadapters export``: an adapter as an ONNX file (and its int8 copy), refused over an existing one."""

import numpy as np
from click.testing import CliRunner

from geoadapters.cli.export import export_command
from geoadapters.cli.options import CONTROLS
from geoadapters.errors import OutputExistsError, render
from geoadapters.inference.export import example_raw
from geoadapters.inference.onnx_runner import OnnxRunner
from tests.conftest import TEST_BASE
from tests.conftest import perturbed_model as make
from tests.inference.test_onnx import torch_log_probabilities


def test_export_command_on_a_vpt_upernet_adapter(tmp_path, checkpoint):
    model = make("vpt", "upernet", checkpoint, prompt_tokens=4, channels=32)
    folder = model.save_pretrained(tmp_path / "adapter")
    output = tmp_path / "out" / "model.onnx"
    args = ["--model", TEST_BASE, "--adapter", str(folder), "-o", str(output), "--int8"]
    args += ["--checkpoint", str(checkpoint)]
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 0, result.output
    assert "dynamo exporter" in result.output and "max |ONNX - torch| logit difference" in result.output
    assert "int8 agrees with fp32 on" in result.output
    assert sorted(p.name for p in output.parent.iterdir()) == ["model.int8.onnx", "model.onnx"]
    raw = example_raw(model.config, 2, 64, seed=3)
    assert np.abs(OnnxRunner(output)(raw) - torch_log_probabilities(model, raw)).max() < 1e-4
    written = output.read_bytes()
    result = CliRunner().invoke(export_command, args)
    assert result.exit_code == 1 and isinstance(result.exception, OutputExistsError)
    assert "--overwrite replaces it" in render(result.exception.template, CONTROLS)  # as the CLI says it
    assert output.read_bytes() == written


def test_the_adapter_help_offers_onnx_files_where_they_run():
    """predict runs an .onnx file; export refuses one by name, so its --help does not offer it."""
    from geoadapters.cli.predict import predict_command

    exported, predicted = (
        " ".join(CliRunner().invoke(command, ["--help"]).output.split())
        for command in (export_command, predict_command)
    )
    assert "a folder, org/name" in exported and ".onnx" not in exported.partition("--adapter")[2][:300]
    assert "a folder, model.onnx, org/name" in predicted
