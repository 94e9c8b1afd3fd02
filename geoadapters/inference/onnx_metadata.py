"""The geoadapters metadata of ONNX files: written at export, read back without torch, onnx or onnxruntime.

An exported model carries its adapter config (the input contract, classes and their colours, base) as
JSON under `METADATA_KEY`, beside the tile size fixed at export and its precision, so the file is a
model of its own: ``predict --adapter model.onnx`` needs nothing else. A segmentation model also
carries the keys the Deepness QGIS plugin reads (`DEEPNESS_KEYS`), each value JSON-encoded as the
plugin's documentation (docs/source/creators/creators_add_metadata_to_model.rst) and its reader
(``ModelBase.get_metadata_*``) have them: ``model_type`` ``"Segmentor"``, ``class_names`` ``{"0":
name, ...}``, ``resolution`` in cm/px, ``tiles_size`` in px and ``tiles_overlap`` in percent of a tile
(its reader reads the tile size as ``tile_size``, which is ours too). Deepness scales tile values by
1/255 and then standardises them with ``standardization_mean`` and ``standardization_std``: 0 and 1/255
per band hand the graph the band values as stored, which it takes. ``seg_thresh`` 0 and
``seg_small_segment`` 0 turn its probability threshold and its median filter off, so that its map is
the argmax of the graph's output: a segmentation graph outputs probabilities (``output``), since
Deepness zeroes every output under the threshold, 0 when off, before its argmax.

The header is read with protobuf alone (onnxruntime requires it): the messages of ``onnx.proto`` that
hold the metadata (``ModelProto.metadata_props``) and the shapes of the graph's inputs and outputs are
declared here (`_header`), and the other fields of the file (nodes, weights) are skipped unparsed, so
`read_onnx_metadata` checks the metadata against the graph as the runner does.
"""

import dataclasses
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geoadapters._serde import JSON_LIMIT, SCHEMA, explain
from geoadapters.config import MAX_TILE, AdapterConfig
from geoadapters.errors import CheckpointError, MissingDependencyError, WeightsNotFoundError
from geoadapters.raster.palette import class_colors
from geoadapters.version import __version__

__all__ = [
    "DEEPNESS_KEYS",
    "METADATA_KEY",
    "OnnxMetadata",
    "graph_output",
    "onnx_metadata",
    "parse_metadata",
    "read_metadata_props",
    "read_onnx_metadata",
]

# ONNX metadata: the adapter config as JSON under this key, beside "tile_size" and "precision".
METADATA_KEY = "geoadapter.json"
# The keys of the Deepness QGIS plugin, written for segmentation models.
DEEPNESS_KEYS = (
    "model_type",
    "class_names",
    "resolution",
    "tiles_size",
    "tiles_overlap",
    "standardization_mean",
    "standardization_std",
    "seg_thresh",
    "seg_small_segment",
)

# A graph's dimension as ONNX states it: a size, a symbol ("batch") or unknown.
Shape = Sequence[int | str | None]


class OnnxMetadata(BaseModel):
    """The schema of the geoadapters metadata `onnx_metadata` writes (ONNX metadata values are strings).

    The other keys of a file (the Deepness keys, ``class_colors``, what other tools add) are not ours
    to refuse: the config under `METADATA_KEY` is what geoadapters reads.
    """

    model_config = SCHEMA | ConfigDict(frozen=True, extra="ignore")

    config: Annotated[str, Field(alias=METADATA_KEY, max_length=JSON_LIMIT)]
    tile_size: Annotated[int, Field(ge=1, le=MAX_TILE, strict=False)]  # the digits of a number
    precision: Literal["fp32", "int8"] = "fp32"
    # what the graph outputs; files exported before this key existed output logits
    output: Literal["logits", "probabilities"] = "logits"
    geoadapters_version: Annotated[str, Field(max_length=40)] = ""


def graph_output(config: AdapterConfig) -> Literal["logits", "probabilities"]:
    """What an exported graph outputs: softmax ``probabilities`` for segmentation, else ``logits``."""
    return "probabilities" if config.task == "segmentation" else "logits"


def onnx_metadata(config: AdapterConfig, tile_size: int, precision: str) -> dict[str, str]:
    """The metadata of an exported model: adapter config, tile size fixed at export, precision, QGIS keys.

    Besides the config: ``class_colors`` (``#rrggbb`` of each class, the class maps' colours) and, for
    segmentation, the Deepness keys (see the module); ``resolution`` only where the contract has a GSD.
    """
    colors = ["#{:02x}{:02x}{:02x}".format(*rgba[:3]) for rgba in class_colors(config.classes, config.colors)]
    props = {
        METADATA_KEY: json.dumps(config.to_dict()),
        "tile_size": str(tile_size),
        "precision": precision,
        "output": graph_output(config),
        "geoadapters_version": __version__,
        "class_colors": json.dumps(colors),
    }
    if config.task == "segmentation":
        overlap = min(config.inference.overlap, tile_size // 2)
        bands = config.frames * len(config.input.bands)  # the graph's input channels
        props |= {
            "model_type": json.dumps("Segmentor"),
            "class_names": json.dumps({str(i): name for i, name in enumerate(config.classes)}),
            "tiles_size": json.dumps(tile_size),
            "tiles_overlap": json.dumps(round(100 * overlap / tile_size)),
            "standardization_mean": json.dumps([0.0] * bands),
            "standardization_std": json.dumps([1 / 255] * bands),
            "seg_thresh": json.dumps(0.0),
            "seg_small_segment": json.dumps(0),
        }
        if config.input.gsd is not None:
            props["resolution"] = json.dumps(round(config.input.gsd * 100, 6))
    return props


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
    props: Mapping[str, str], source: str | Path, raw: Shape | None = None, logits: Shape | None = None
) -> tuple[AdapterConfig, int, str]:
    """(config, tile size, precision) from the metadata of a model that `onnx_metadata` described.

    Given the graph's input shape `raw` and output shape `logits`, they are checked against them
    (bands, tile size, classes): a runner does so before anything runs. The config's tiling is the one
    the graph takes: its tile size is the one fixed at export.

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
        if raw is not None and logits is not None:
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


@cache
def _header() -> Any:
    """The message class of an ONNX file's header: its metadata and the shapes of its graph's ends.

    ``ModelProto`` with ``metadata_props`` and ``graph`` only (``GraphProto.input`` 11, ``output`` 12 of
    ``ValueInfoProto``: ``type`` 2 -> ``TypeProto.tensor_type`` 1 -> ``shape`` 2 -> ``dim`` 1 of
    ``dim_value`` 1 or ``dim_param`` 2); nodes and weights are skipped unparsed.
    """
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError as err:
        raise MissingDependencyError("reading ONNX files (protobuf)", extra="cpu") from err
    proto = descriptor_pb2.FileDescriptorProto(
        name="geoadapters_onnx_header.proto", package="geoadapters_onnx", syntax="proto2"
    )
    optional, repeated = 1, 3  # FieldDescriptorProto's label numbers
    int64, string, message = 3, 9, 11  # and type numbers

    def add(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        kind = proto.message_type.add(name=name)
        for field, number, type_, label, of in fields:
            kind.field.add(
                name=field, number=number, type=type_, label=label,
                **({"type_name": f".geoadapters_onnx.{of}"} if of else {}),
            )  # fmt: skip

    add("StringStringEntryProto", [("key", 1, string, optional, ""), ("value", 2, string, optional, "")])
    add("Dimension", [("dim_value", 1, int64, optional, ""), ("dim_param", 2, string, optional, "")])
    add("TensorShapeProto", [("dim", 1, message, repeated, "Dimension")])
    add("Tensor", [("shape", 2, message, optional, "TensorShapeProto")])
    add("TypeProto", [("tensor_type", 1, message, optional, "Tensor")])
    add("ValueInfoProto", [("name", 1, string, optional, ""), ("type", 2, message, optional, "TypeProto")])
    add("GraphProto", [
        ("input", 11, message, repeated, "ValueInfoProto"),
        ("output", 12, message, repeated, "ValueInfoProto"),
    ])  # fmt: skip
    add("ModelProto", [
        ("graph", 7, message, optional, "GraphProto"),
        ("metadata_props", 14, message, repeated, "StringStringEntryProto"),
    ])  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("geoadapters_onnx.ModelProto"))


def _parsed(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"{path} does not exist")
    header = _header()()
    try:
        header.ParseFromString(path.read_bytes())
    except Exception as err:  # protobuf's DecodeError, or a message of another schema
        raise CheckpointError(f"{path} is not a readable ONNX model: {err}") from err
    return header


def _shape(value: Any) -> list[int | str | None]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """The metadata (``metadata_props``) of an ONNX file, as onnxruntime's ``custom_metadata_map``.

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is no ONNX model.
        MissingDependencyError: protobuf is not installed.
    """
    header = _parsed(path)
    return {p.key: p.value for p in header.metadata_props}


def read_onnx_metadata(path: str | Path) -> tuple[AdapterConfig, int, str]:
    """(config, tile size, precision) of an exported model, reading its metadata only (no weights).

    They are checked against the shapes of the graph's first input and output.

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is no ONNX model, or has no valid geoadapters metadata, or they
            contradict the graph.
        MissingDependencyError: protobuf is not installed.
    """
    header = _parsed(path)
    props = {p.key: p.value for p in header.metadata_props}
    graph = header.graph
    if not graph.input or not graph.output:
        raise CheckpointError(f"{path} is not a readable ONNX model: its graph has no input or output")
    return parse_metadata(props, path, _shape(graph.input[0]), _shape(graph.output[0]))
