import dataclasses
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from peft.tuners.lora import LoraLayer
from torch import nn

from geoadapters.backbone import create_backbone
from geoadapters.errors import AdapterError, InputShapeError
from geoadapters.inference.export import example_raw, export_onnx, quantize_int8
from geoadapters.inference.onnx_metadata import read_onnx_metadata
from geoadapters.inference.onnx_runner import OnnxRunner
from geoadapters.methods.lora import QKVSplit
from tests.conftest import TEST_BASE
from tests.conftest import perturbed_model as make


def torch_log_probabilities(model, raw):
    """What OnnxRunner returns of an exported segmentation model: the log of the graph's softmax."""
    with torch.inference_mode():
        return model(model.normalize(torch.from_numpy(raw))).log_softmax(1).numpy()


@pytest.fixture(scope="module")
def lora(checkpoint, tmp_path_factory):
    """The LoRA model, its log-probabilities before export, and the export report."""
    model = make("lora", "linear", checkpoint)
    raw = example_raw(model.config, 3, 64, seed=1)
    before = torch_log_probabilities(model, raw)
    report = export_onnx(model, tmp_path_factory.mktemp("onnx") / "lora.onnx")
    return SimpleNamespace(model=model, raw=raw, before=before, report=report)


def test_lora_onnx_matches_torch(lora):
    report = lora.report
    assert report.exporter == "dynamo" and report.max_abs_diff < 1e-4
    assert report.path.is_file() and report.size_bytes == report.path.stat().st_size
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["lora.onnx"]  # no staging leftovers


def test_exported_graph_is_the_plain_base_architecture(lora, checkpoint):
    graph = onnx.load(lora.report.path).graph
    weights = {t.name for t in graph.initializer}
    linear_weights = [n for n in graph.node if n.op_type in ("MatMul", "Gemm") and set(n.input) & weights]
    base = create_backbone(TEST_BASE, checkpoint)
    # LoRA would add two MatMuls per adapted Linear, and split qkv into three
    assert len(linear_weights) == sum(isinstance(m, nn.Linear) for m in base.modules())
    assert not [name for name in weights | {n.name for n in graph.node} if "lora" in name.lower()]


def test_the_callers_model_keeps_its_lora_and_its_outputs(lora):
    assert any(isinstance(m, LoraLayer) for m in lora.model.modules())
    assert any(isinstance(m, QKVSplit) for m in lora.model.modules())
    np.testing.assert_array_equal(torch_log_probabilities(lora.model, lora.raw), lora.before)


@pytest.mark.parametrize("batch", [1, 3])
def test_batch_is_dynamic(lora, batch):
    logits = OnnxRunner(lora.report.path)(lora.raw[:batch])
    assert logits.shape == (batch, 2, 64, 64)
    assert np.abs(logits - lora.before[:batch]).max() < 1e-4


def test_a_segmentation_graph_outputs_probabilities(lora):
    graph = onnx.load(lora.report.path).graph
    assert [o.name for o in graph.output] == ["probabilities"]
    session = onnxruntime.InferenceSession(str(lora.report.path))
    (probabilities,) = session.run(None, {"raw": lora.raw})
    assert probabilities.min() >= 0  # Deepness zeroes outputs under its threshold, 0 when off
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probabilities, np.exp(lora.before), atol=1e-5)


def test_metadata_round_trip_to_the_same_config(lora):
    config = lora.model.config  # as the graph has it: taking no scene metadata
    graph = dataclasses.replace(config, input=dataclasses.replace(config.input, metadata=()))
    assert read_onnx_metadata(lora.report.path)[:2] == (graph, 64)


def test_an_adapter_trained_with_scene_metadata_is_not_exported(tmp_path):
    import geoadapters
    from tests.conftest import S1F11

    model = geoadapters.create(
        "prithvi-v2-tiny-tl", "full", classes=["a", "b"], pretrained=False, depth=1,
        input=dataclasses.replace(S1F11, metadata=("location",)),
    )  # fmt: skip
    with pytest.raises(AdapterError, match=r"trained with scene metadata \(location\)"):
        export_onnx(model, tmp_path / "tl.onnx")
    assert list(tmp_path.iterdir()) == []


def test_vit_adapter_exports_through_the_torchscript_fallback(tmp_path, checkpoint):
    model = make("vit_adapter", "linear", checkpoint)
    report = export_onnx(model, tmp_path / "model.onnx")
    # torch.export cannot trace its deformable attention (an int() of a tensor): the fallback exports it
    assert report.exporter == "torchscript" and report.max_abs_diff < 1e-4
    raw = example_raw(model.config, 3, 64, seed=2)
    assert np.abs(OnnxRunner(report.path)(raw) - torch_log_probabilities(model, raw)).max() < 1e-4


def test_tile_size_must_fit_the_patches(tmp_path, lora):
    with pytest.raises(InputShapeError, match="multiple of 16"):
        export_onnx(lora.model, tmp_path / "model.onnx", tile_size=72)
    assert not list(tmp_path.iterdir())


def test_int8_is_a_separate_file_whose_agreement_is_reported(tmp_path, lora):
    report = lora.report
    fp32_bytes = report.path.read_bytes()
    quantized = quantize_int8(report.path, tmp_path / "lora.int8.onnx", check=lora.raw)
    assert 0 <= quantized.agreement <= 1 and quantized.max_abs_diff > 0
    assert quantized.int8_bytes == quantized.path.stat().st_size < quantized.fp32_bytes
    assert report.path.read_bytes() == fp32_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lora.int8.onnx"]
    assert OnnxRunner(report.path).description.endswith("fp32")
    assert OnnxRunner(quantized.path).description.endswith("int8")
    assert read_onnx_metadata(quantized.path)[:2] == read_onnx_metadata(lora.report.path)[:2]
