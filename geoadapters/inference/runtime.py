"""`make_runner`: the runtime the user asked for, ready to run (exporting to ONNX on the fly if need be)."""

import logging
import tempfile
from pathlib import Path

from geoadapters.errors import DeviceError
from geoadapters.geomodel import GeoModel
from geoadapters.inference.onnx import export_onnx, quantize_int8
from geoadapters.inference.runners import OnnxRunner, Runner, TorchRunner

__all__ = ["make_runner"]

_LOG = logging.getLogger(__name__)


def make_runner(
    model_or_path: GeoModel | str | Path,
    runtime: str = "torch",
    device: str | None = None,
    precision: str = "fp32",
) -> Runner:
    """A runner: torch, or onnxruntime on a model exported on the fly or read from a file.

    Args:
        model_or_path: A model, or an ONNX file written by `geoadapters.inference.onnx` (runtime ``onnx``).
        runtime: ``torch`` or ``onnx``.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where it exists.
        precision: ``fp32``; ``fp16``/``bf16`` with torch on CUDA; ``int8`` with onnx (a model is
            quantised after export; a file must be the int8 one).

    Raises:
        DeviceError: An unknown runtime or precision, or one the runtime or device lacks.
    """
    if runtime == "torch":
        if not isinstance(model_or_path, GeoModel):
            raise DeviceError(f"{model_or_path} is an ONNX file: run it with runtime 'onnx'")
        return TorchRunner(model_or_path, device, precision)
    if runtime != "onnx":
        raise DeviceError(f"runtime must be torch or onnx, got {runtime!r}")
    if precision not in ("fp32", "int8"):
        raise DeviceError(
            f"the onnx runtime runs fp32 or int8 models; {precision} runs with runtime 'torch' on CUDA"
        )
    if not isinstance(model_or_path, GeoModel):
        runner = OnnxRunner(model_or_path, device)
        if precision != "fp32" and runner.precision != precision:
            raise DeviceError(
                f"{model_or_path} is an {runner.precision} model: "
                "pass its int8 copy (geoadapters export --int8)"
            )
        return runner
    # the session holds the model once created, so the files can go
    with tempfile.TemporaryDirectory(prefix="geoadapters-onnx-", ignore_cleanup_errors=True) as folder:
        report = export_onnx(model_or_path, Path(folder) / "model.onnx")
        _LOG.info("exported to ONNX in %.1f s, max |ONNX - torch| %.2g", report.seconds, report.max_abs_diff)
        path = report.path
        if precision == "int8":
            quantized = quantize_int8(path, path.with_suffix(".int8.onnx"))
            _LOG.info("int8 agrees with fp32 on %.2f%% of pixels", 100 * quantized.agreement)
            path = quantized.path
        return OnnxRunner(path, device)
