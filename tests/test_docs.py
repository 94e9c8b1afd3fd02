"""The README and the guides say what the code does: their examples run, their flags exist, their
figures are what the code computes. A test here fails when the text and the code drift apart."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import geoadapters
from geoadapters.cli.main import cli
from geoadapters.hub.folder import read_config
from geoadapters.raster.outputs import default_output, probability_path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "ARCHITECTURE.md"]


def code_blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def commands(program: str) -> list[list[str]]:
    """Every documented command line of `program` (continuations joined, comments cut)."""
    found = []
    for page in PAGES:
        for block in code_blocks(page, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith(program + " "):
                    found.append(line[len(program) :].split())
    return found


def test_every_flag_of_a_documented_geoadapters_command_exists():
    documented = commands("geoadapters")
    assert len(documented) > 10
    for words in documented:
        command = cli.commands[words[0]]
        flags = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
        unknown = [w.split("=")[0] for w in words[1:] if w.startswith("--") and w.split("=")[0] not in flags]
        assert unknown == [], f"geoadapters {' '.join(words)}"


def test_every_flag_of_a_documented_training_data_command_exists():
    from training.__main__ import _LIGHTNING, build_parser

    parser = build_parser()
    for words in commands("python -m training"):
        if words[0] in _LIGHTNING or "--help" in words:  # LightningCLI's keys: test_smoke_run.py runs them
            continue
        args = [w for w in words if "[" not in w and "|" not in w]  # placeholders such as [NAME]
        parser.parse_known_args(args)  # an unknown command or a flag without its value exits here


def test_the_readme_python_example_runs_as_written(tmp_path):
    (tmp_path / "demo").symlink_to(ROOT / "demo")
    (example,) = [b for b in code_blocks(README, "python") if "predict_raster" in b]
    said = re.search(r"report\.class_pixels\s+# (\{.*\})", example)
    assert said is not None
    code = example + "\nprint(report.class_pixels)\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert ast.literal_eval(done.stdout.strip().splitlines()[-1]) == ast.literal_eval(said.group(1))


def test_the_readme_states_the_bundled_models_held_out_metrics():
    test = read_config(geoadapters.DEFAULT_ADAPTER).metrics["test"]
    text = " ".join(README.read_text().split())
    figures = (
        f"water IoU {test['IoU']['Water']:.1f}, mIoU {test['mIoU']:.1f}, accuracy {test['accuracy']:.1f}"
    )
    assert figures in text


@pytest.mark.parametrize("method", ["lora", "vpt", "vit_adapter", "linear_probe", "full"])
def test_the_readme_adapter_sizes_are_the_architectures(method):
    row = re.search(
        rf"^\| `{method}` \| [^|]* \| ([\d.]+) M(?: parameters)?, ([\d.]+) MB \|$", README.read_text(), re.M
    )
    assert row is not None, method
    with torch.device("meta"):  # prithvi-300 at full size, no memory
        model = geoadapters.create("prithvi-300", method, "linear", classes=["a", "b"], pretrained=False)
    params = sum(t.numel() for t in model.adapter_state_dict().values())
    assert row.group(1) == f"{params / 1e6:.1f}"
    assert abs(float(row.group(2)) - params * 4 / 1e6) <= 0.1  # float32 tensors, and the file's header


def test_predict_help_names_the_files_predict_writes():
    help_text = " ".join(cli.commands["predict"].get_help(cli.make_context("predict", ["x"])).split())
    assert probability_path(default_output("scene.tif")).name.replace("scene", "<stem>") in help_text
    assert default_output("scene.tif").name.replace("scene", "<stem>") in help_text


def test_the_vector_cost_in_predict_help_is_the_one_measured_in_docs():
    help_text = " ".join(cli.commands["predict"].get_help(cli.make_context("predict", ["x"])).split())
    said = re.search(
        r"([\d.]+)x the raster run of the bundled model .*?, ([\d.]+)x with the model on one", help_text
    )
    assert said is not None
    table = (ROOT / "docs" / "performance.md").read_text()
    assert re.search(rf"^\| `--vector` \| [^|]+ \| {re.escape(said.group(1))}x \|$", table, re.M)
    assert re.search(
        rf"^\| model on 1 thread, `--vector` \| [^|]+ \| {re.escape(said.group(2))}x \|$", table, re.M
    )


def test_the_readme_speed_figures_are_the_ones_measured_in_docs():
    rows = {
        (scene, run): (float(best), float(fp32), float(shipped))
        for scene, run, best, fp32, shipped in re.findall(
            r"^\| (\d+ x \d+) \| ([^|]+?) \| [^|]+ \| ([\d.]+) \| \**([\d.]+)x\** \| \**([\d.]+)x\** \|$",
            (ROOT / "docs" / "performance.md").read_text(),
            re.M,
        )
    }
    ours, tt = "`geoadapters predict`", "TerraTorch fp32"
    small, large = rows[("512 x 512", ours)], rows[("2048 x 2048", ours)]
    bf16, int8 = (
        rows[("2048 x 2048", "`--precision bf16`")],
        rows[("2048 x 2048", "`--runtime onnx --precision int8`")],
    )
    text = " ".join(README.read_text().split())
    assert (
        f"512 px scene in {small[0]} s against TerraTorch's {rows[('512 x 512', tt)][0]} s in fp32 "
        f"({small[1]:.2f}x) and a 2048 px one in {large[0]} s against {rows[('2048 x 2048', tt)][0]} s "
        f"({large[1]:.2f}x; {large[2]:.2f}x against TerraTorch as shipped), {bf16[0]} s with "
        f"`--precision bf16` on a CPU with native bf16 and {int8[0]} s with the int8 opt-in ({int8[1]:.2f}x)"
    ) in text
    for (scene, _), (best, fp32, _) in rows.items():  # each ratio: TerraTorch fp32's best over the row's
        assert rows[(scene, tt)][0] / best == pytest.approx(fp32, rel=0.03)  # bests rounded to 0.1 s
