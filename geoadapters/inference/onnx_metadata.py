"""The geoadapters metadata of ONNX files: written at export, read back without torch or onnxruntime.

An exported model carries its adapter config (the input contract, classes, base) as JSON under
`METADATA_KEY`, beside the tile size fixed at export and its precision, so the file is a model of its
own: ``predict --adapter model.onnx`` needs nothing else.
"""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geoadapters._serde import JSON_LIMIT
from geoadapters.config import MAX_TILE, AdapterConfig
from geoadapters.errors import CheckpointError, MissingDependencyError, WeightsNotFoundError
from geoadapters.version import __version__

__all__ = ["METADATA_KEY", "onnx_metadata", "parse_metadata", "read_onnx_metadata"]

# ONNX metadata: the adapter config as JSON under this key, beside "tile_size" and "precision".
METADATA_KEY = "geoadapter.json"


def onnx_metadata(config: AdapterConfig, tile_size: int, precision: str) -> dict[str, str]:
    """The metadata of an exported model: adapter config, tile size fixed at export, precision."""
    return {
        METADATA_KEY: json.dumps(config.to_dict()),
        "tile_size": str(tile_size),
        "precision": precision,
        "geoadapters_version": __version__,
    }


def parse_metadata(props: Mapping[str, str], source: str | Path) -> tuple[AdapterConfig, int, str]:
    """(config, tile size, precision) from the metadata of a model that `onnx_metadata` described.

    The config's tiling is the one the graph takes: its tile size is the one fixed at export.

    Raises:
        CheckpointError: The metadata are missing or invalid.
    """
    if METADATA_KEY not in props:
        raise CheckpointError(
            f"{source} has no {METADATA_KEY} metadata: export models with geoadapters export"
        )
    try:
        if len(props[METADATA_KEY]) > JSON_LIMIT:
            raise ValueError(f"{METADATA_KEY} is over {JSON_LIMIT:,} bytes")
        data = json.loads(props[METADATA_KEY])
        if not isinstance(data, dict):
            raise ValueError(f"{METADATA_KEY} is no JSON object")
        tile_size = int(props["tile_size"])
        if not 1 <= tile_size <= MAX_TILE:
            raise ValueError(f"tile_size {tile_size} is not in [1, {MAX_TILE}]")
        precision = props.get("precision", "fp32")
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision {precision[:20]!r} is neither fp32 nor int8")
        config = AdapterConfig.from_dict(data)
    except (KeyError, ValueError, RecursionError) as err:
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{source} has invalid geoadapters metadata: {detail}") from err
    if config.inference.tile_size != tile_size:  # the graph takes the tiles it was exported for
        overlap = min(config.inference.overlap, tile_size // 2)
        inference = dataclasses.replace(config.inference, tile_size=tile_size, overlap=overlap)
        config = dataclasses.replace(config, inference=inference)
    return config, tile_size, precision


def read_onnx_metadata(path: str | Path) -> tuple[AdapterConfig, int, str]:
    """(config, tile size, precision) of an exported model, reading its header only (no weights).

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is no ONNX model, or has no valid geoadapters metadata.
        MissingDependencyError: The onnx package is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"{path} does not exist")
    try:
        import onnx
    except ImportError as err:
        raise MissingDependencyError("reading ONNX files (onnx)", extra="onnx") from err
    try:
        model: Any = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's decode errors have no common base beyond Exception
        raise CheckpointError(f"{path} is not a readable ONNX model: {err}") from err
    return parse_metadata({p.key: p.value for p in model.metadata_props}, path)
