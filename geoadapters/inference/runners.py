"""Runners: what turns a batch of raw tiles into logits, and `make_runner`, which picks one.

A runner applies the adapter's input contract itself (scaling, normalisation, nodata), so callers pass
band values as stored in the files, in the adapter's band order: `TorchRunner` runs a `GeoModel`,
`OnnxRunner` an exported graph. Reduced precision is only used where the hardware has it and the user
asks: fp16/bf16 autocast on CUDA, an int8 ONNX model on CPUs. This module and `OnnxRunner` need no
torch: an ONNX file runs on numpy and onnxruntime alone.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from geoadapters.config import AdapterConfig
from geoadapters.errors import DeviceError
from geoadapters.inference.onnx_runner import OnnxRunner
from geoadapters.specs import SceneMetadata

if TYPE_CHECKING:
    from geoadapters.geomodel import GeoModel

__all__ = ["Runner", "make_runner"]


class Runner(Protocol):
    """Raw tiles in, logits out.

    Attributes:
        config: The adapter's config: input contract, classes, tiling.
        description: Runtime, device and precision, e.g. "torch fp32 on cpu".
        xp: The array namespace of the logits (`array_api_compat`'s numpy for onnxruntime, torch's for
            torch), in which tiles are blended.
        device: Where the logits come out, a device of `xp` (the CPU for onnxruntime, whatever its
            provider).
    """

    config: AdapterConfig
    description: str
    xp: Any
    device: Any

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> Any:
        """Float32 logits (B, K, H, W), an array of `xp` on `device`, of raw band values (B, C, H, W).

        The bands are in the adapter's order. For a model of T frames (`AdapterConfig.frames`) the
        bands are (B, T x C, H, W), frame after frame. `scene`: date (one per frame), place and GSD
        of the scene, for models that condition on them (-TL, Clay).
        """
        ...

    def fitting_batch(self, tile: int) -> int | None:
        """Most tiles of `tile` px per batch that the device's free memory holds; None: no limit known."""
        ...


def make_runner(
    model_or_path: "GeoModel | str | Path",
    runtime: str = "torch",
    device: str | None = None,
    precision: str = "fp32",
) -> Runner:
    """A runner: torch, or onnxruntime on a model exported once (cached) or read from a file.

    Args:
        model_or_path: A model, or an ONNX file written by `geoadapters.inference.export` (runtime ``onnx``).
        runtime: ``torch`` or ``onnx``.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where it exists.
        precision: ``fp32``; ``fp16``/``bf16`` with torch on CUDA; ``int8`` with onnx (a model is
            quantised after export; a file must be the int8 one).

    Raises:
        DeviceError: An unknown runtime or precision, or one the runtime or device lacks.
    """
    if runtime not in ("torch", "onnx"):
        raise DeviceError(f"runtime must be torch or onnx, got {runtime!r}")
    if isinstance(model_or_path, str | Path):
        if runtime == "torch":
            raise DeviceError(f"{model_or_path} is an ONNX file: run it with `runtime_onnx`")
        _check_onnx_precision(precision)
        runner = OnnxRunner(model_or_path, device)
        if precision != "fp32" and runner.precision != precision:
            raise DeviceError(
                f"{model_or_path} is an {runner.precision} model: "
                "pass its int8 copy (geoadapters export --int8)"
            )
        return runner
    if runtime == "torch":
        from geoadapters.inference.torch_runner import TorchRunner

        return TorchRunner(model_or_path, device, precision)
    _check_onnx_precision(precision)
    from geoadapters.inference.export_cache import cached_export

    return OnnxRunner(cached_export(model_or_path, precision), device)


def _check_onnx_precision(precision: str) -> None:
    if precision not in ("fp32", "int8"):
        raise DeviceError(
            f"the onnx runtime runs fp32 or int8 models; {precision} runs with runtime 'torch' on CUDA"
        )
