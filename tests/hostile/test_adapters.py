"""Adapters from strangers: an ONNX file whose metadata contradict its graph, and seeded fuzzing of
geoadapter.json and of the safetensors header. Every outcome is a project error of one line; no
traceback, nothing allocated for what a file merely declares.

Before issue 24: an ONNX file declaring 5 classes for a 2-class graph ran, and failed in the middle of
a prediction with a RuntimeError; a metrics value that is not an object, padding.multiple 2**31 and a
NaN nodata_fill were accepted.
"""

import copy
import json
import math
import random
import struct
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError, CheckpointError, GeoAdaptersError
from geoadapters.hub.folder import read_shapes
from geoadapters.inference.onnx_metadata import onnx_metadata, read_onnx_metadata
from geoadapters.models.checkpoint import read_state_dict
from tests.hostile.common import ADAPTER, refused
from tests.scenes import chip_pixels, write_like

CONFIG = AdapterConfig.read(ADAPTER / "geoadapter.json")
TILE = 128


def onnx_model(path: Path, classes_in_graph: int, classes_declared: int) -> Path:
    """A real ONNX graph raw (batch, 6, 128, 128) -> logits (batch, K, 128, 128), a 1x1 convolution."""
    bands = len(CONFIG.input.bands)
    weight = np.random.default_rng(0).normal(size=(classes_in_graph, bands, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["raw", "w"], ["logits"])],
        "toy",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["batch", bands, TILE, TILE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes_in_graph, TILE, TILE])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    names = tuple(f"c{i}" for i in range(classes_declared))
    config = copy.copy(CONFIG)
    object.__setattr__(config, "classes", names)
    helper.set_model_props(model, onnx_metadata(config, TILE, "fp32"))
    onnx.save(model, path)
    return path


def test_onnx_metadata_that_contradict_the_graph_are_refused_before_running(tmp_path, capsys):
    bad = onnx_model(tmp_path / "bad.onnx", classes_in_graph=2, classes_declared=5)
    with pytest.raises(CheckpointError, match="declare 5 classes on axis 1 of the output, the graph has 2"):
        read_onnx_metadata(bad)
    scene = tmp_path / "scene.tif"
    write_like(scene, chip_pixels())
    err = refused(["predict", scene, "--adapter", bad, "-o", tmp_path / "out.tif"], capsys)
    assert "the graph has 2" in err and not (tmp_path / "out.tif").exists()
    refused(["info", bad], capsys)


def test_onnx_metadata_that_fit_the_graph_are_read(tmp_path):
    good = onnx_model(tmp_path / "good.onnx", classes_in_graph=5, classes_declared=5)
    config, tile, precision = read_onnx_metadata(good)
    assert (len(config.classes), tile, precision) == (5, TILE, "fp32")


# --- seeded fuzzing --------------------------------------------------------------------------------

SEED = 24
MUTATIONS = 300
BUDGET_S = 30.0  # each fuzz test stops there, whatever number of mutations it reached
ODD = [None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 1e308, math.nan, math.inf, -math.inf, 0.5, "",
       "x" * 300, "../../etc/passwd", [], [1] * 5, {}, {"a": {"b": [None]}}, [[[[[]]]]]]  # fmt: skip


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def mutate(data, rng: random.Random):
    """A copy of `data` with 1 to 3 values replaced, deleted, or keys added."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p in _paths(data) if p])
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        op = rng.random()
        if op < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op < 0.25 and isinstance(parent, dict):
            parent[rng.choice(["evil", "__class__", "x" * 200])] = rng.choice(ODD)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD))
    return data


def test_fuzzed_geoadapter_json_gives_only_one_line_adapter_errors():
    base = json.loads((ADAPTER / "geoadapter.json").read_text())
    rng, started, seen = random.Random(SEED), time.monotonic(), {"refused": 0, "accepted": 0}
    for _ in range(MUTATIONS):
        if time.monotonic() - started > BUDGET_S:
            break
        data = mutate(base, rng)
        try:
            config = AdapterConfig.from_dict(data)
        except AdapterError as err:
            assert "\n" not in str(err) and len(str(err)) <= 500, str(err)
            seen["refused"] += 1
            continue
        # accepted: what it reads back is valid and round-trips
        assert AdapterConfig.from_dict(json.loads(config.to_json())) == config
        seen["accepted"] += 1
    assert seen["refused"] > MUTATIONS // 2, seen


def _header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def _write(folder: Path, header, body: bytes, rng: random.Random) -> None:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    length = len(text)
    if rng.random() < 0.1:  # a header length that lies
        length = rng.choice([0, 7, length + 1, 2**63, 2**40])
    (folder / "adapter_model.safetensors").write_bytes(struct.pack("<Q", length) + text + body)


def test_fuzzed_safetensors_headers_give_only_one_line_project_errors(tmp_path):
    header, body = _header(ADAPTER / "adapter_model.safetensors")
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "geoadapter.json").write_bytes((ADAPTER / "geoadapter.json").read_bytes())
    rng, started, refused_count = random.Random(SEED), time.monotonic(), 0
    tensors = [k for k in header if k != "__metadata__"]
    for _ in range(MUTATIONS):
        if time.monotonic() - started > BUDGET_S:
            break
        edited = copy.deepcopy(header)
        name = rng.choice(tensors)
        field, value = rng.choice(
            [
                ("dtype", rng.choice(["I8", "U8", "BOOL", "F64", "X", 3, None])),
                ("shape", rng.choice([[2**40, 2**40], [-1], ["a"], [], [0], [1] * 64, None])),
                ("data_offsets", rng.choice([[0, 2**62], [10, 5], [-1, 3], [0], None, [0, len(body) + 8]])),
                ("delete", None),
                ("bytes", None),
            ]
        )
        if field == "delete":
            del edited[name][rng.choice(["dtype", "shape", "data_offsets"])]
        elif field != "bytes":
            edited[name][field] = value
        blob = json.dumps(edited).encode()
        if field == "bytes":  # random bytes of the header flipped
            blob = bytearray(blob)
            for _ in range(rng.randint(1, 8)):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            blob = bytes(blob)
        _write(folder, blob, body[: rng.choice([len(body), len(body) // 2, 0])], rng)
        for read in (read_shapes, lambda f: read_state_dict(f / "adapter_model.safetensors")):
            try:
                read(folder)
            except GeoAdaptersError as err:
                assert "\n" not in str(err).strip() or len(str(err)) < 2000, str(err)
                refused_count += 1
    assert refused_count > MUTATIONS // 2
