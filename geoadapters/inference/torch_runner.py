"""`TorchRunner`: a `GeoModel` in inference mode on raw tiles, with fp16/bf16 autocast if asked.

fp16 runs on CUDA, bf16 on CUDA and on CPUs with native bf16 units (`native_bf16`). An fp32 run
computes in fp32 whatever else the process set: torch's global float32 matmul precision, which some
libraries lower when imported (TerraTorch's Clay module sets ``"medium"``, bf16 on CPUs that have it),
is held at ``"highest"`` while a runner computes and restored after (`fp32_matmul`).

It applies the adapter's input contract itself (scaling, normalisation, nodata), so callers pass band
values as stored in the files, in the adapter's band order. Logits stay on the device that computed
them (tiled prediction blends them there), and on CUDA it measures how many tiles its free memory
holds (`TorchRunner.fitting_batch`).
"""

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat.torch as xp_torch
import numpy as np
import numpy.typing as npt
import torch

from geoadapters.errors import DeviceError, InputShapeError
from geoadapters.geomodel import GeoModel
from geoadapters.inference import PRECISIONS
from geoadapters.inference.devices import batch_for_memory, native_bf16, resolve_device
from geoadapters.specs import SceneMetadata

__all__ = [
    "TorchRunner",
    "autocast_dtype",
    "fp32_matmul",
    "frames_input",
    "measured_batch",
    "precision_context",
    "scene_inputs",
]

_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}
_matmul_lock = threading.Lock()
_matmul_users = 0
_matmul_before = "highest"


@contextlib.contextmanager
def fp32_matmul() -> Iterator[None]:
    """Float32 matmuls in full float32 inside; torch's global precision as it was after the last exit.

    Counted, so that overlapping runs in several threads keep ``"highest"`` until the last one ends.
    """
    global _matmul_users, _matmul_before
    with _matmul_lock:
        if _matmul_users == 0:
            _matmul_before = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")
        _matmul_users += 1
    try:
        yield
    finally:
        with _matmul_lock:
            _matmul_users -= 1
            if _matmul_users == 0:
                torch.set_float32_matmul_precision(_matmul_before)


def frames_input(raw: torch.Tensor, frames: int) -> torch.Tensor:
    """Raw tiles as the model takes them: (B, C, H, W), or (B, C, T, H, W) of (B, T x C, H, W) tiles.

    Raises:
        InputShapeError: The tiles' bands are no multiple of `frames`.
    """
    if frames == 1:
        return raw
    if raw.shape[1] % frames:
        raise InputShapeError(f"tiles of {raw.shape[1]} bands are not {frames} frames of equally many bands")
    _, bands, height, width = raw.shape
    return raw.reshape(-1, frames, bands // frames, height, width).transpose(1, 2)


def scene_inputs(
    model: GeoModel, scene: SceneMetadata | None, batch: int, device: torch.device
) -> dict[str, Any]:
    """The encoder's metadata inputs of `batch` tiles of `scene`, on `device`; none without a scene.

    Only what the adapter was trained with is given, and the input contract's settings (Clay's gsd)
    come first.
    """
    if scene is None:
        return {}
    encoder = model.encoder
    given = scene.only(model.config.input.metadata)
    metadata = encoder.scene_inputs(given, batch) | encoder.forward_defaults(model.config.input)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in metadata.items()}


def precision_context(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """Autocast to `dtype` on `device`, or full fp32 (`fp32_matmul`) where `dtype` is None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else fp32_matmul()


def measured_batch(
    run: Callable[[npt.NDArray[np.float32]], object], bands: int, tile: int, device: torch.device
) -> int:
    """Tiles of `tile` px per batch of `run` that fit in 80 % of the free CUDA memory (`batch_for_memory`).

    The memory of a batch is the peak of a forward pass of one tile and of two, measured on `device`.
    """
    peaks = []
    for n in (1, 2):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run(np.zeros((n, bands, tile, tile), np.float32))
        peaks.append(torch.cuda.max_memory_allocated(device) - before)
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    per_tile = max(peaks[1] - peaks[0], 1)
    return batch_for_memory(free, peaks[0] - per_tile, per_tile)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `precision` on `device` (None: fp32).

    Raises:
        DeviceError: An unknown precision, int8 (onnxruntime's), or fp16/bf16 where the device lacks it.
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        raise DeviceError("int8 runs on onnxruntime: use `runtime_onnx`, or geoadapters export --int8")
    if precision == "fp32":
        return None
    if device.type != "cuda":
        if precision == "bf16" and native_bf16():
            return torch.bfloat16
        where = "CUDA and on CPUs with native bf16 units" if precision == "bf16" else "CUDA only"
        raise DeviceError(
            f"{precision} runs on {where}: on this CPU it would be about 100x slower than fp32; use fp32, "
            "or the int8 ONNX model (geoadapters export --int8)"
        )
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{torch.cuda.get_device_name(device)} has no bf16: use fp16 or fp32")
    return _AUTOCAST[precision]


class TorchRunner:
    """Runs a `GeoModel` in inference mode, with fp16/bf16 autocast if asked.

    Args:
        model: The model; it is put in eval mode and moved to `device`.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where it exists, else the CPU.
        precision: ``fp32``; ``fp16`` (autocast) on CUDA; ``bf16`` (autocast) on CUDA and on CPUs
            with native bf16 units (`geoadapters.inference.devices.native_bf16`).

    Attributes:
        model: The model, on `device`.
        device: Where it runs.

    Raises:
        DeviceError: fp16 off CUDA, bf16 on a CPU without native bf16, int8 (onnxruntime's), or CUDA
            without a CUDA device.
    """

    def __init__(self, model: GeoModel, device: str | None = None, precision: str = "fp32") -> None:
        self.device = torch.device(resolve_device(device, torch.cuda.is_available()))
        self._dtype = autocast_dtype(precision, self.device)
        self.model = model.eval().to(self.device)
        self.config = model.config
        self._frames = model.config.frames
        self.description = f"torch {precision} on {self.device}"
        self.xp: Any = xp_torch  # logits stay torch tensors on the device, where tiles are blended
        self._fitted: dict[int, int] = {}  # `fitting_batch` by tile size

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> torch.Tensor:
        """Float32 logits (B, K, H, W) on the device of raw band values (B, [T x] C, H, W), given `scene`."""
        x = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32)).to(self.device)
        x = frames_input(x, self._frames)
        metadata = scene_inputs(self.model, scene, len(raw), self.device)
        with torch.inference_mode(), precision_context(self.device, self._dtype):
            logits: torch.Tensor = self.model(self.model.normalize(x), **metadata)
        return logits.float()

    def fitting_batch(self, tile: int) -> int | None:
        """Tiles per batch that fit in 80 % of the free CUDA memory (`batch_for_memory`); None off CUDA.

        The memory of a batch is measured once per tile size, for every scene after: the peak of a
        forward pass of one tile and of two.
        """
        if self.device.type != "cuda":
            return None
        if tile in self._fitted:
            return self._fitted[tile]
        bands = len(self.config.input.bands) * self._frames
        self._fitted[tile] = measured_batch(self, bands, tile, self.device)
        return self._fitted[tile]
