"""`convert` of TerraTorch files from strangers: pickles that run code, YAML tags that build objects,
alias bombs, wrong-typed or contradicting values, an existing output folder. Each is a one-line error
(exit 1), nothing runs, nothing is written, no earlier output is lost.

Before issue 24: an alias bomb was expanded by yaml.safe_load and then walked (time and memory without
bound); num_classes "2" or head_dropout "0.1" passed as far as the head, and a YAML of any size was read.
"""

import pickle
import struct

import pytest
import torch

from tests.convert.terratorch_files import (
    hand_model,
    model_args,
    terratorch_state,
    write_checkpoint,
    write_config,
)
from tests.hostile.common import refused

SENTINEL = "convert-ran-code"


class RunsCode:
    """A pickle that, when loaded, writes a file (what an attacker's would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tt")
    state = terratorch_state(*hand_model("fcn"))
    return write_config(folder / "config.yaml", model_args("FCNDecoder")), write_checkpoint(
        folder / "m.pt", state
    )


def convert(config, checkpoint, out, capsys, code=1):
    return refused(["convert", config, checkpoint, "-o", out], capsys, code)


def test_a_pickle_that_runs_code_is_refused_unrun(good, tmp_path, capsys):
    ran = tmp_path / SENTINEL
    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"state_dict": {"x": RunsCode(ran)}}))
    err = convert(good[0], bad, tmp_path / "out", capsys)
    assert "evil.pt" in err and not ran.exists() and not (tmp_path / "out").exists()
    with pytest.raises(pickle.UnpicklingError):  # the control: torch's safe loader is what stops it
        torch.load(bad, weights_only=True)


def test_a_legacy_checkpoint_declaring_a_4_tb_storage_is_refused_unallocated(good, tmp_path, capsys):
    path = tmp_path / "legacy.pt"
    torch.save({"state_dict": {"x": torch.zeros(4)}}, path, _use_new_zipfile_serialization=False)
    raw = bytearray(path.read_bytes())
    at = raw.rfind(struct.pack("<q", 4) + bytes(16))  # the storage's element count, before its data
    raw[at : at + 8] = struct.pack("<q", 2**40)
    path.write_bytes(bytes(raw))
    err = convert(good[0], path, tmp_path / "out", capsys)
    assert "cannot read checkpoint" in err and "legacy.pt" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"!!python/object/apply:os.system ['touch {SENTINEL}']\n", "not readable YAML"),
        ("model: !!python/object/new:builtins.dict []\n", "not readable YAML"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
            ),
            "YAML values through its aliases",
        ),
        ("[1, 2]\n", "holds no mapping"),
        ("model: {class_path: x}\n", "model.init_args is missing"),
    ],
    ids=["python tag", "object tag", "alias bomb", "a list", "no init_args"],
)
def test_hostile_yaml_is_refused(text, message, good, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(text)
    assert message in convert(config, good[1], tmp_path / "out", capsys)
    assert not (tmp_path / SENTINEL).exists() and not (tmp_path / "out").exists()


def test_a_yaml_over_1_mb_is_refused_unread(good, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("# " + "x" * (1 << 20) + "\n")
    assert "is over 1,048,576 bytes" in convert(config, good[1], tmp_path / "out", capsys)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"num_classes": "2"}, "num_classes must be a valid integer"),
        ({"num_classes": 10**9}, "num_classes must be less than or equal to 1024"),
        ({"head_dropout": "0.1"}, "head_dropout must be a valid number"),
        ({"backbone_bands": "RED"}, "backbone_bands must be a valid array"),
        ({"decoder_channels": 10**9}, "decoder_channels"),
        ({"backbone_depth": 10**6}, "depth must be less than or equal to 128"),
    ],
)
def test_wrong_typed_or_unbounded_values_are_refused(extra, message, tmp_path, capsys, good):
    config = write_config(tmp_path / "config.yaml", model_args("FCNDecoder", **extra))
    assert message in convert(config, good[1], tmp_path / "out", capsys)
    assert not (tmp_path / "out").exists()


def test_tensor_shapes_that_contradict_the_config_are_refused(tmp_path, capsys, good):
    config = write_config(tmp_path / "config.yaml", model_args("FCNDecoder", num_classes=5))
    err = convert(config, good[1], tmp_path / "out", capsys)
    assert "out" not in {p.name for p in tmp_path.iterdir()} and len(err) < 600


def test_an_existing_output_folder_is_kept(tmp_path, capsys, good):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert "exists" in convert(good[0], good[1], out, capsys)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
