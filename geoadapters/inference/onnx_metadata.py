"""The geoadapters metadata of ONNX files: written at export, read back without torch or onnxruntime.

An exported model carries its adapter config (the input contract, classes, base) as JSON under
`METADATA_KEY`, beside the tile size fixed at export and its precision, so the file is a model of its
own: ``predict --adapter model.onnx`` needs nothing else.
"""

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geoadapters._serde import JSON_LIMIT, SCHEMA, explain
from geoadapters.config import MAX_TILE, AdapterConfig
from geoadapters.errors import CheckpointError, MissingDependencyError, WeightsNotFoundError
from geoadapters.version import __version__

__all__ = ["METADATA_KEY", "OnnxMetadata", "onnx_metadata", "parse_metadata", "read_onnx_metadata"]

# ONNX metadata: the adapter config as JSON under this key, beside "tile_size" and "precision".
METADATA_KEY = "geoadapter.json"

# A graph's dimension as ONNX states it: a size, a symbol ("batch") or unknown.
Shape = Sequence[int | str | None]


class OnnxMetadata(BaseModel):
    """The schema of the metadata `onnx_metadata` writes (ONNX metadata values are strings)."""

    model_config = SCHEMA | ConfigDict(frozen=True)

    config: Annotated[str, Field(alias=METADATA_KEY, max_length=JSON_LIMIT)]
    tile_size: Annotated[int, Field(ge=1, le=MAX_TILE, strict=False)]  # the digits of a number
    precision: Literal["fp32", "int8"] = "fp32"
    geoadapters_version: Annotated[str, Field(max_length=40)] = ""


def onnx_metadata(config: AdapterConfig, tile_size: int, precision: str) -> dict[str, str]:
    """The metadata of an exported model: adapter config, tile size fixed at export, precision."""
    return {
        METADATA_KEY: json.dumps(config.to_dict()),
        "tile_size": str(tile_size),
        "precision": precision,
        "geoadapters_version": __version__,
    }


def _check_graph(config: AdapterConfig, tile_size: int, raw: Shape, logits: Shape) -> None:
    """Refuse metadata that contradict the graph's input (B, [T x] C, tile, tile) and output (B, K, ...)."""
    channels = config.frames * len(config.input.bands)
    for what, shape, wanted in (
        ("input", raw, (None, channels, tile_size, tile_size)),
        ("output", logits, (None, len(config.classes))),
    ):
        if len(shape) < len(wanted):
            raise ValueError(f"the graph's {what} has {len(shape)} dimensions, fewer than {len(wanted)}")
        for axis, (got, want) in enumerate(zip(shape, wanted, strict=False)):
            if isinstance(got, int) and want is not None and got != want:
                noun = {1: "classes" if what == "output" else "bands x frames"}.get(axis, "pixels")
                raise ValueError(
                    f"the metadata declare {want} {noun} on axis {axis} of the {what}, the graph has {got}"
                )


def parse_metadata(
    props: Mapping[str, str], source: str | Path, raw: Shape, logits: Shape
) -> tuple[AdapterConfig, int, str]:
    """(config, tile size, precision) from the metadata of a model that `onnx_metadata` described.

    They are checked against the graph's input shape `raw` and output shape `logits` (bands, tile
    size, classes), before anything runs. The config's tiling is the one the graph takes: its tile
    size is the one fixed at export.

    Raises:
        CheckpointError: The metadata are missing, invalid, or contradict the graph.
    """
    if METADATA_KEY not in props:
        raise CheckpointError(
            f"{source} has no {METADATA_KEY} metadata: export models with geoadapters export"
        )
    try:
        meta = OnnxMetadata.model_validate(dict(props))
        data = json.loads(meta.config)
        if not isinstance(data, dict):
            raise ValueError(f"{METADATA_KEY} is no JSON object")
        config = AdapterConfig.from_dict(data)
        _check_graph(config, meta.tile_size, raw, logits)
    except ValidationError as err:
        raise CheckpointError(f"{source} has invalid geoadapters metadata: {explain(err)}") from None
    except (ValueError, RecursionError) as err:
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{source} has invalid geoadapters metadata: {detail}") from err
    tile_size = meta.tile_size
    if config.inference.tile_size != tile_size:  # the graph takes the tiles it was exported for
        overlap = min(config.inference.overlap, tile_size // 2)
        inference = dataclasses.replace(config.inference, tile_size=tile_size, overlap=overlap)
        config = dataclasses.replace(config, inference=inference)
    return config, tile_size, meta.precision


def _shape(value: Any) -> list[int | str | None]:
    """The shape of a graph input or output (an onnx ValueInfoProto)."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


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
        raw, logits = _shape(model.graph.input[0]), _shape(model.graph.output[0])
    except Exception as err:  # protobuf's decode errors have no common base beyond Exception
        raise CheckpointError(f"{path} is not a readable ONNX model: {err}") from err
    return parse_metadata({p.key: p.value for p in model.metadata_props}, path, raw, logits)
