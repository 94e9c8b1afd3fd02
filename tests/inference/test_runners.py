import copy
import dataclasses

import numpy as np
import onnx
import pytest
import torch

from geoadapters.errors import CheckpointError, GeoAdaptersError, InputShapeError, WeightsNotFoundError
from geoadapters.inference.devices import batch_for_memory, cuda_devices, native_bf16, resolve_device
from geoadapters.inference.export import export_onnx
from geoadapters.inference.onnx_runner import OnnxRunner
from geoadapters.inference.runners import make_runner
from geoadapters.inference.torch_runner import TorchRunner, fp32_matmul
from tests.conftest import perturbed_model as make

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="there is a CUDA device")


@pytest.fixture(scope="module")
def model(checkpoint):
    return make("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def onnx_path(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx").path


@pytest.fixture(scope="module")
def raw(chip):
    """The shared flood-chip windows as the runners take them: float32 raw band values."""
    return chip[0].numpy()


@no_cuda
def test_onnx_runner_runs_on_the_cpu_provider_here(onnx_path, model):
    runner = OnnxRunner(onnx_path)
    assert runner.session.get_providers() == ["CPUExecutionProvider"]
    assert runner.description == "onnxruntime CPUExecutionProvider fp32"
    assert runner.config.input.metadata == ()  # an exported graph takes no scene metadata
    assert dataclasses.replace(runner.config, input=model.config.input) == model.config
    assert runner.tile_size == 64


def test_torch_and_onnx_runners_agree_on_the_real_chip(onnx_path, model, raw):
    torch_runner, onnx_runner = TorchRunner(model, "cpu"), OnnxRunner(onnx_path, "cpu")
    expected, got = torch_runner(raw), onnx_runner(raw)
    # torch's logits stay torch tensors on its device; onnxruntime's are numpy arrays on the host
    assert expected.dtype == torch.float32 and got.dtype == np.float32 and expected.shape == (2, 2, 64, 64)
    assert expected.device == torch_runner.device and isinstance(got, np.ndarray)
    # the graph outputs probabilities: their log is torch's logits less their log-sum-exp
    assert np.abs(got - expected.log_softmax(1).numpy()).max() < 1e-4


def test_torch_runner_applies_the_input_contract(model, raw):
    with torch.inference_mode():
        expected = model(model.normalize(torch.from_numpy(raw))).numpy()
    runner = TorchRunner(model, "cpu")
    assert runner.description == "torch fp32 on cpu"
    np.testing.assert_array_equal(runner(raw).numpy(), expected)


@no_cuda
def test_fp16_on_the_cpu_is_a_clear_error(model):
    with pytest.raises(GeoAdaptersError, match=r"CUDA only.*100x slower.*use fp32, or the int8 ONNX model"):
        TorchRunner(model, precision="fp16")


@no_cuda
def test_bf16_runs_on_cpus_with_native_bf16_and_is_refused_elsewhere(model, raw):
    if not native_bf16():
        with pytest.raises(GeoAdaptersError, match=r"CPUs with native bf16 units.*100x slower.*use fp32"):
            TorchRunner(model, precision="bf16")
        return
    runner = TorchRunner(model, precision="bf16")
    assert runner.description == "torch bf16 on cpu"
    with torch.inference_mode():
        reference = model(model.normalize(torch.from_numpy(raw).double())).numpy()  # float64
    got = runner(raw).numpy()
    assert got.dtype == np.float32
    # bf16 keeps 8 bits of mantissa: logits within a few percent of their spread
    assert np.abs(got - reference).max() < 0.05 * (np.abs(reference).max() + 1)


def test_fp32_runs_compute_in_fp32_whatever_the_process_set(model, raw):
    with torch.inference_mode():
        reference = model(model.normalize(torch.from_numpy(raw))).numpy()  # at torch's default, "highest"
    runner = TorchRunner(model, "cpu")
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # what TerraTorch's Clay module does when imported
    try:
        with fp32_matmul():
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_float32_matmul_precision() == "medium"  # restored after
        np.testing.assert_array_equal(runner(raw).numpy(), reference)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


@no_cuda
def test_auto_device_is_the_cpu_here_and_cuda_is_refused():
    assert resolve_device(None, False) == resolve_device("auto", False) == "cpu"
    assert resolve_device(None, True) == "cuda" and resolve_device("cpu", True) == "cpu"
    with pytest.raises(GeoAdaptersError, match="no CUDA device"):
        resolve_device("cuda", False)
    assert cuda_devices() == 0  # the CUDA driver's own count agrees with torch's


def test_onnx_runner_refuses_another_tile_size(onnx_path, raw):
    with pytest.raises(InputShapeError, match="fixed at export"):
        OnnxRunner(onnx_path)(raw[..., :32, :32])


def test_onnx_runner_needs_a_geoadapters_model(tmp_path):
    with pytest.raises(WeightsNotFoundError):
        OnnxRunner(tmp_path / "missing.onnx")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        OnnxRunner(tmp_path / "text.onnx")
    value = onnx.helper.make_tensor_value_info("raw", onnx.TensorProto.FLOAT, [1])
    output = onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["raw"], ["logits"])], "g", [value], [output]
    )
    plain = onnx.helper.make_model(graph, ir_version=10, opset_imports=[onnx.helper.make_opsetid("", 18)])
    onnx.save(plain, tmp_path / "plain.onnx")
    with pytest.raises(CheckpointError, match=r"no geoadapter\.json metadata"):
        OnnxRunner(tmp_path / "plain.onnx")


def test_make_runner_picks_the_runtime(model, onnx_path, raw):
    assert make_runner(model, device="cpu").description == "torch fp32 on cpu"
    runner = make_runner(onnx_path, runtime="onnx", device="cpu")
    assert runner.description == "onnxruntime CPUExecutionProvider fp32"
    with pytest.raises(GeoAdaptersError, match="runtime='onnx'"):
        make_runner(onnx_path)
    with pytest.raises(GeoAdaptersError, match="runs with runtime 'torch' on CUDA"):
        make_runner(model, runtime="onnx", precision="bf16")
    with pytest.raises(GeoAdaptersError, match="int8 runs on onnxruntime"):
        make_runner(model, precision="int8")
    with pytest.raises(GeoAdaptersError, match="export --int8"):
        make_runner(onnx_path, runtime="onnx", precision="int8")


def test_make_runner_exports_and_quantises_a_model_on_request(checkpoint, raw):
    # a multi-label head: its classifier is a Gemm, which the quantiser rewrites as a MatMul
    model = make("lora", "classification", checkpoint)
    runner = make_runner(model, runtime="onnx", precision="int8")
    assert runner.description == f"onnxruntime {runner.session.get_providers()[0]} int8"
    expected = TorchRunner(model, "cpu")(raw)
    got = runner(raw)
    assert got.shape == expected.shape == (2, 2) and np.abs(got - expected.numpy()).max() < 0.05


def test_a_batch_fills_four_fifths_of_the_free_memory_within_bounds():
    mib = 2**20
    assert batch_for_memory(free=1000 * mib, fixed=100 * mib, per_tile=50 * mib) == 14  # (800 - 100) / 50
    assert batch_for_memory(free=1000 * mib, fixed=900 * mib, per_tile=50 * mib) == 1  # never below one
    assert batch_for_memory(free=10**12, fixed=0, per_tile=mib) == 64  # nor above the cap
    assert batch_for_memory(free=10**12, fixed=0, per_tile=mib, most=8) == 8


@no_cuda
def test_batches_are_not_fitted_to_memory_on_the_cpu(model, onnx_path):
    assert TorchRunner(model, "cpu").fitting_batch(64) is None
    assert OnnxRunner(onnx_path, "cpu").fitting_batch(64) is None


@pytest.mark.gpu
def test_cuda_runs_fp16_and_onnxruntime_on_the_gpu(model, onnx_path, raw):
    expected = TorchRunner(model, "cpu")(raw)
    half = TorchRunner(copy.deepcopy(model), precision="fp16")
    assert half.description == "torch fp16 on cuda"
    logits = half(raw)
    assert logits.device.type == "cuda" and (logits.cpu() - expected).abs().max() < 0.05
    fitted = half.fitting_batch(64)
    assert fitted is not None and 1 <= fitted <= 64
    runner = OnnxRunner(onnx_path)
    assert runner.description == "onnxruntime CUDAExecutionProvider fp32"
    assert (runner(raw) - expected).abs().max() < 1e-3


def test_scene_metadata_reach_the_model_only_as_the_adapter_was_trained():
    import datetime

    import geoadapters
    from geoadapters.specs import SceneMetadata
    from tests.conftest import S1F11

    torch.manual_seed(0)
    model = geoadapters.create(
        "prithvi-v2-tiny-tl", "full", classes=["a", "b"], pretrained=False, input=S1F11, depth=1
    ).eval()
    with torch.no_grad():  # the -TL encoders start near zero: make their effect visible
        for name, p in model.named_parameters():
            if "coords" in name or "scale" in name:
                p.fill_(1.0)
    raw = np.random.default_rng(0).uniform(0, 3000, (1, 6, 32, 32)).astype(np.float32)
    scene = SceneMetadata((datetime.date(2019, 9, 18),), 41.2, -5.9)
    runs = {}
    for given in (None, (), ("location",)):
        model.config = dataclasses.replace(model.config, input=dataclasses.replace(S1F11, metadata=given))
        runner = TorchRunner(model)
        runs[given] = runner(raw, scene), runner(raw, SceneMetadata())
    blind_with, blind_without = runs[()]
    np.testing.assert_array_equal(blind_with, blind_without)  # trained without: never given
    assert not np.allclose(runs[None][0], runs[None][1])  # unrecorded: all the encoder takes
    assert not np.allclose(runs[("location",)][0], blind_with)  # the location reaches the model
