"""`make_runner`: the runtime the user asked for, ready to run (exporting to ONNX once, then cached).

``runtime="onnx"`` on a model exports it the first time and keeps the file in the cache
(``$GEOADAPTERS_CACHE``, else ``$XDG_CACHE_HOME/geoadapters`` or ``~/.cache/geoadapters``), keyed by
a hash of everything the graph depends on: the model's tensors (base and adapter), its config, the
tile size, the precision and the versions of geoadapters and torch. The next run loads that file.
"""

import hashlib
import logging
import os
from pathlib import Path

import torch

from geoadapters import __version__
from geoadapters._staging import staged_dir
from geoadapters.errors import DeviceError
from geoadapters.geomodel import GeoModel
from geoadapters.inference.onnx import export_onnx, quantize_int8
from geoadapters.inference.runners import OnnxRunner, Runner, TorchRunner

__all__ = ["cache_dir", "export_key", "make_runner"]

_LOG = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Folder of the ONNX export cache."""
    explicit = os.environ.get("GEOADAPTERS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "geoadapters"


def export_key(model: GeoModel, tile_size: int, precision: str) -> str:
    """Hash of what an export of `model` depends on: tensors, config, tile size, precision, versions."""
    digest = hashlib.sha256()
    for text in (model.config.to_json(), str(tile_size), precision, __version__, torch.__version__):
        digest.update(text.encode() + b"\0")
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def _cached_export(model: GeoModel, precision: str) -> Path:
    """The model's ONNX file from the cache, exported (and quantised for int8) on the first call."""
    tile = model.config.inference.tile_size
    folder = cache_dir() / "onnx" / export_key(model, tile, precision)
    path = folder / ("model.int8.onnx" if precision == "int8" else "model.onnx")
    if path.is_file():
        _LOG.info("using the cached ONNX export %s", path)
        return path
    with staged_dir(folder, overwrite=True) as staging:
        report = export_onnx(model, staging / "model.onnx")
        _LOG.info("exported to ONNX in %.1f s, max |ONNX - torch| %.2g", report.seconds, report.max_abs_diff)
        if precision == "int8":
            quantized = quantize_int8(report.path, staging / path.name)
            _LOG.info("int8 agrees with fp32 on %.2f%% of pixels", 100 * quantized.agreement)
    return path


def make_runner(
    model_or_path: GeoModel | str | Path,
    runtime: str = "torch",
    device: str | None = None,
    precision: str = "fp32",
) -> Runner:
    """A runner: torch, or onnxruntime on a model exported once (cached) or read from a file.

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
    return OnnxRunner(_cached_export(model_or_path, precision), device)
