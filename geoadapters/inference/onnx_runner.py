"""`OnnxRunner`: a model exported by `geoadapters.inference.export` (or its int8 copy) on onnxruntime.

Like every runner it takes raw band values; normalisation is part of the graph. The adapter config and
tile size come from the file's metadata (`geoadapters.inference.onnx_metadata`). It needs numpy and
onnxruntime alone (no torch): the logits are numpy arrays, blended on the host.
"""

import logging
from pathlib import Path
from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np
import numpy.typing as npt

from geoadapters.errors import (
    CheckpointError,
    DeviceError,
    InputShapeError,
    MissingDependencyError,
    WeightsNotFoundError,
)
from geoadapters.inference.devices import cores, cuda_devices, resolve_device
from geoadapters.inference.onnx_metadata import parse_metadata
from geoadapters.specs import SceneMetadata

__all__ = ["OnnxRunner"]

_LOG = logging.getLogger(__name__)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingDependencyError(
            "the onnx runtime (onnxruntime, or onnxruntime-gpu)", extra="cpu"
        ) from err
    return onnxruntime


class OnnxRunner:
    """Runs a model written by `geoadapters.inference.export.export_onnx` (or its int8 copy) on onnxruntime.

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
        cuda = "CUDAExecutionProvider" in ort.get_available_providers() and cuda_devices() > 0
        device = resolve_device(device, cuda)
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            _, _, index = device.partition(":")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or 0)}))
            if hasattr(ort, "preload_dlls"):  # onnxruntime >= 1.21: CUDA libraries from nvidia-* wheels
                ort.preload_dlls()
        elif device != "cpu":
            raise DeviceError(f"onnxruntime runs on cpu or cuda, not {device!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = cores()
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime's errors have no common base beyond Exception
            raise CheckpointError(f"{path} is not a readable ONNX model: {err}") from err
        provider = self.session.get_providers()[0]
        if device.startswith("cuda") and provider != "CUDAExecutionProvider":
            _LOG.warning("onnxruntime could not use CUDA (see its log); running on %s", provider)
        props = self.session.get_modelmeta().custom_metadata_map
        self._input_shape = tuple(self.session.get_inputs()[0].shape)
        logits = tuple(self.session.get_outputs()[0].shape)
        self.config, self.tile_size, self.precision = parse_metadata(props, path, self._input_shape, logits)
        # validated by parse_metadata's schema (OnnxMetadata.output)
        self._probabilities = props.get("output") == "probabilities"
        self.description = f"onnxruntime {provider} {self.precision}"
        self.xp: Any = xp_numpy
        self.device = "cpu"  # where session.run returns the logits

    def __call__(
        self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None
    ) -> npt.NDArray[np.float32]:
        """Float32 logits (B, K, H, W), a numpy array, of float32 raw band values (B, [T x] C, H, W).

        A graph that outputs probabilities gives their logarithm: logits up to a constant per pixel,
        which every output (argmax, softmax of the blended tiles, TTA) is independent of.

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
        output: npt.NDArray[np.float32] = self.session.run(None, feed)[0]
        if self._probabilities:  # the smallest float32 keeps log finite where the softmax underflowed
            log: npt.NDArray[np.float32] = np.log(np.maximum(output, np.finfo(np.float32).tiny))
            return log
        return output

    def fitting_batch(self, tile: int) -> None:
        """None: onnxruntime's memory is not measured."""
        return None
