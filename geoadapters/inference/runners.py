"""Runners: what turns a batch of raw tiles into logits, with torch or with onnxruntime.

A runner applies the adapter's input contract itself (scaling, normalisation, nodata), so callers pass
band values as stored in the files, in the adapter's band order. Reduced precision is only used where
the hardware has it and the user asks: fp16/bf16 autocast on CUDA, an int8 ONNX model on CPUs.
Logits stay on the device that computed them (tiled prediction blends them there), and on CUDA a
runner measures how many tiles its free memory holds (`TorchRunner.fitting_batch`).
The metadata of ONNX files are defined in `geoadapters.inference.onnx_file` (torch-free).
"""

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

from geoadapters.config import AdapterConfig
from geoadapters.errors import (
    CheckpointError,
    DeviceError,
    InputShapeError,
    MissingDependencyError,
    WeightsNotFoundError,
)
from geoadapters.geomodel import GeoModel
from geoadapters.inference import PRECISIONS
from geoadapters.inference.onnx_file import METADATA_KEY, onnx_metadata, parse_metadata
from geoadapters.specs import SceneMetadata

__all__ = [
    "METADATA_KEY",
    "OnnxRunner",
    "Runner",
    "TorchRunner",
    "batch_for_memory",
    "frames_input",
    "onnx_metadata",
    "parse_metadata",
    "resolve_device",
]

_LOG = logging.getLogger(__name__)
_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


class Runner(Protocol):
    """Raw tiles in, logits out.

    Attributes:
        config: The adapter's config: input contract, classes, tiling.
        description: Runtime, device and precision, e.g. "torch fp32 on cpu".
        device: Where the logits come out (the CPU for onnxruntime, whatever its provider).
    """

    config: AdapterConfig
    description: str
    device: torch.device

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> torch.Tensor:
        """Float32 logits (B, K, H, W) on `device` of raw band values (B, C, H, W) in the adapter's order.

        For a model of T frames (`AdapterConfig.frames`) the bands are (B, T x C, H, W), frame after
        frame. `scene`: date (one per frame), place and GSD of the scene, for models that condition on
        them (-TL, Clay).
        """
        ...

    def fitting_batch(self, tile: int) -> int | None:
        """Most tiles of `tile` px per batch that the device's free memory holds; None: no limit known."""
        ...


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


def resolve_device(device: str | None) -> str:
    """``cuda`` where a CUDA device exists and ``cpu`` otherwise for None or "auto"; else `device`.

    Raises:
        DeviceError: CUDA is asked for and there is no CUDA device.
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was asked for, but there is no CUDA device: use cpu")
    return device


def batch_for_memory(free: int, fixed: int, per_tile: int, most: int = 64) -> int:
    """Tiles per batch whose memory, `fixed` + n x `per_tile` bytes, fits in 80 % of `free` bytes.

    At least 1, at most `most`: beyond some tens of tiles a GPU is busy and larger batches only cost
    memory.
    """
    return max(1, min(most, (int(0.8 * free) - fixed) // max(per_tile, 1)))


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        raise DeviceError(
            "int8 runs on onnxruntime: use runtime 'onnx' (--runtime onnx), or geoadapters export --int8"
        )
    if precision == "fp32":
        return None
    if device.type != "cuda":
        raise DeviceError(
            f"{precision} runs on CUDA only: on CPUs without native bf16 it is about 100x slower than "
            "fp32; use fp32, or the int8 ONNX model (geoadapters export --int8)"
        )
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{torch.cuda.get_device_name(device)} has no bf16: use fp16 or fp32")
    return _AUTOCAST[precision]


class TorchRunner:
    """Runs a `GeoModel` in inference mode, with fp16/bf16 autocast on CUDA if asked.

    Args:
        model: The model; it is put in eval mode and moved to `device`.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where it exists, else the CPU.
        precision: ``fp32``; ``fp16`` or ``bf16`` (autocast) on CUDA only.

    Attributes:
        model: The model, on `device`.
        device: Where it runs.

    Raises:
        DeviceError: fp16/bf16 off CUDA, int8 (onnxruntime's), or CUDA without a CUDA device.
    """

    def __init__(self, model: GeoModel, device: str | None = None, precision: str = "fp32") -> None:
        self.device = torch.device(resolve_device(device))
        self._dtype = _autocast_dtype(precision, self.device)
        self.model = model.eval().to(self.device)
        self.config = model.config
        self._frames = model.config.frames
        self.description = f"torch {precision} on {self.device}"
        self._fitted: dict[int, int] = {}  # `fitting_batch` by tile size

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> torch.Tensor:
        """Float32 logits (B, K, H, W) on the device of raw band values (B, [T x] C, H, W), given `scene`."""
        x = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32)).to(self.device)
        x = frames_input(x, self._frames)
        autocast = (
            torch.autocast(self.device.type, dtype=self._dtype) if self._dtype else contextlib.nullcontext()
        )
        metadata = {}
        if scene is not None:  # the input contract's settings (Clay's gsd) come first
            encoder = self.model.encoder
            given = scene.only(self.config.input.metadata)  # what the adapter was trained with
            metadata = encoder.scene_inputs(given, len(raw)) | encoder.forward_defaults(self.config.input)
            metadata = {
                k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in metadata.items()
            }
        with torch.inference_mode(), autocast:
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
        peaks = []
        for n in (1, 2):
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            self(np.zeros((n, bands, tile, tile), np.float32))
            peaks.append(torch.cuda.max_memory_allocated(self.device) - before)
        free, _ = torch.cuda.mem_get_info(self.device)
        free += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        per_tile = max(peaks[1] - peaks[0], 1)
        self._fitted[tile] = batch_for_memory(free, peaks[0] - per_tile, per_tile)
        return self._fitted[tile]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError(
            "the onnx runtime (onnxruntime-gpu, which runs on CPUs too)", extra="gpu"
        ) from err
    return onnxruntime


class OnnxRunner:
    """Runs a model written by `geoadapters.inference.onnx.export_onnx` (or its int8 copy) on onnxruntime.

    The adapter config and tile size come from the file's metadata; `config.inference.tile_size` is the
    tile size fixed at export, so tiled prediction cuts tiles the graph accepts.

    Args:
        path: The ``.onnx`` file.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where a CUDA device exists.

    Attributes:
        session: The onnxruntime session; ``session.get_providers()[0]`` is the provider in use.
        tile_size: Tile side fixed at export.
        precision: ``fp32`` or ``int8``, from the file's metadata.

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is no ONNX model, or has no geoadapters metadata.
        DeviceError: CUDA is asked for and there is no CUDA device.
    """

    def __init__(self, path: str | Path, device: str | None = None) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise WeightsNotFoundError(f"{path} does not exist")
        device = resolve_device(device)
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            _, _, index = device.partition(":")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or 0)}))
            if hasattr(ort, "preload_dlls"):  # onnxruntime >= 1.21: CUDA libraries from nvidia-* wheels
                ort.preload_dlls()
        elif device != "cpu":
            raise DeviceError(f"onnxruntime runs on cpu or cuda, not {device!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = _cores()
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime's errors have no common base beyond Exception
            raise CheckpointError(f"{path} is not a readable ONNX model: {err}") from err
        provider = self.session.get_providers()[0]
        if device.startswith("cuda") and provider != "CUDAExecutionProvider":
            _LOG.warning("onnxruntime could not use CUDA (see its log); running on %s", provider)
        props = self.session.get_modelmeta().custom_metadata_map
        self.config, self.tile_size, self.precision = parse_metadata(props, path)
        self._input_shape = tuple(self.session.get_inputs()[0].shape)
        self.description = f"onnxruntime {provider} {self.precision}"
        self.device = torch.device("cpu")  # where session.run returns the logits

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> torch.Tensor:
        """Float32 logits (B, K, H, W) on the CPU of float32 raw band values (B, [T x] C, H, W).

        The graph takes no scene metadata: `scene` is not used (export fixes the model's defaults). It
        takes the frames of a model of several frames as runners do, (B, T x C, H, W).

        Raises:
            InputShapeError: `raw`'s bands or tile size are not the ones fixed at export.
        """
        expected = self._input_shape[1:]
        if raw.ndim != len(self._input_shape) or raw.shape[1:] != expected:
            raise InputShapeError(
                f"this ONNX model takes tiles of shape (batch, {', '.join(map(str, expected))}), "
                f"got {raw.shape}; its tile size is fixed at export (geoadapters export --tile-size)"
            )
        feed = {"raw": np.ascontiguousarray(raw, dtype=np.float32)}
        return torch.from_numpy(self.session.run(None, feed)[0])

    def fitting_batch(self, tile: int) -> None:
        """None: onnxruntime's memory is not measured."""
        return None
