"""ONNX exports kept in geoadapters' cache, so ``--runtime onnx`` on an adapter exports it once.

The file is kept under ``onnx/<key>`` in the cache (`geoadapters.cache`), keyed by a hash of
everything the graph depends on: the model's tensors (base and adapter), its config, the tile size,
the precision and the versions of geoadapters and torch. The next run loads that file.
"""

import hashlib
import logging
from pathlib import Path

import torch

from geoadapters._staging import staged_dir
from geoadapters.cache import cache_dir
from geoadapters.geomodel import GeoModel
from geoadapters.inference.export import export_onnx, quantize_int8
from geoadapters.version import __version__

__all__ = ["cached_export", "export_key"]

_LOG = logging.getLogger(__name__)


def export_key(model: GeoModel, tile_size: int, precision: str) -> str:
    """Hash of what an export of `model` depends on: tensors, config, tile size, precision, versions."""
    digest = hashlib.sha256()
    for text in (model.config.to_json(), str(tile_size), precision, __version__, torch.__version__):
        digest.update(text.encode() + b"\0")
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_export(model: GeoModel, precision: str) -> Path:
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
