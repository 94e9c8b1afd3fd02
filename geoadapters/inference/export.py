"""ONNX export: one graph from raw band values to class probabilities, LoRA merged, the contract in metadata.

The graph applies the input contract itself (scaling, normalisation, nodata), so it takes values as
stored in the files. A segmentation graph ends in the softmax (output ``probabilities``), as QGIS
plugins expect (Deepness zeroes outputs under its probability threshold, 0 when off, before its argmax:
negative logits would lose pixels); other tasks output ``logits``. Its batch dimension is dynamic and
its tile size fixed. The adapter config is
stored as ONNX metadata (`geoadapters.inference.onnx_metadata`), which `OnnxRunner` reads back.
`quantize_int8` writes an opt-in int8 copy for CPUs and reports how far it agrees with fp32.
"""

import contextlib
import copy
import dataclasses
import io
import logging
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from geoadapters._staging import staged_file
from geoadapters.config import MAX_TILE, AdapterConfig
from geoadapters.errors import (
    AdapterError,
    CheckpointError,
    InputShapeError,
    MissingDependencyError,
    OptionError,
)
from geoadapters.geomodel import GeoModel
from geoadapters.inference.onnx_metadata import graph_output, onnx_metadata
from geoadapters.inference.onnx_runner import OnnxRunner
from geoadapters.inference.torch_runner import frames_input

__all__ = [
    "ExportReport",
    "QuantizeReport",
    "example_raw",
    "export_onnx",
    "quantize_int8",
]

_LOG = logging.getLogger(__name__)
# A protobuf, so an ONNX file, cannot exceed 2 GiB: larger weights go to a "<name>.data" file beside it.
_EXTERNAL_DATA_BYTES = 1_800_000_000


@dataclass(frozen=True)
class ExportReport:
    """What `export_onnx` wrote and how closely it matches torch.

    Attributes:
        path: The ONNX file.
        max_abs_diff: Largest absolute logit difference between onnxruntime (CPU) and torch.
        seconds: Time taken, checks included.
        exporter: ``dynamo`` (torch.export) or ``torchscript`` (the legacy tracer, the fallback).
        size_bytes: Size of the file and of its external data, if any.
    """

    path: Path
    max_abs_diff: float
    seconds: float
    exporter: str
    size_bytes: int


@dataclass(frozen=True)
class QuantizeReport:
    """What `quantize_int8` wrote and how far it agrees with the fp32 model.

    Attributes:
        path: The int8 ONNX file.
        agreement: Share of pixels (segmentation: argmax; multi-label: sign of each logit) on which
            int8 and fp32 agree, from 0 to 1.
        max_abs_diff: Largest absolute logit difference between int8 and fp32.
        fp32_bytes: Size of the fp32 model.
        int8_bytes: Size of the int8 model.
    """

    path: Path
    agreement: float
    max_abs_diff: float
    fp32_bytes: int
    int8_bytes: int


class _RawInput(nn.Module):
    """A model that takes raw band values as runners do: normalisation (and frames) part of the graph."""

    def __init__(self, model: GeoModel, probabilities: bool) -> None:
        super().__init__()
        self.model = model
        self.frames = model.config.frames
        self.probabilities = probabilities

    def forward(self, raw: Tensor) -> Tensor:
        """Logits, or softmax probabilities over the classes, of raw band values (B, [T x] C, H, W)."""
        logits: Tensor = self.model(self.model.normalize(frames_input(raw, self.frames)))
        return logits.softmax(1) if self.probabilities else logits


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as err:
        raise MissingDependencyError("ONNX export", extra="onnx") from err
    return onnx


def example_raw(
    config: AdapterConfig, batch: int, tile_size: int, *, seed: int = 0
) -> npt.NDArray[np.float32]:
    """Random raw band values around the input contract's mean, with a corner of nodata if it has one.

    Returns:
        Float32 (batch, C, tile_size, tile_size), or (batch, T x C, tile_size, tile_size), frame after
        frame, for models of T > 1 frames: tiles as runners take them.
    """
    spec = config.input
    shape = (batch, config.frames * len(spec.bands), tile_size, tile_size)
    per_band = (1, -1, 1, 1)
    mean = np.tile(spec.mean, config.frames).reshape(per_band) / spec.scale
    std = np.tile(spec.std, config.frames).reshape(per_band) / spec.scale
    raw = np.random.default_rng(seed).standard_normal(shape) * std + mean
    if spec.nodata is not None:
        raw[..., : tile_size // 4, : tile_size // 4] = spec.nodata
    return raw.astype(np.float32)


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    """Apply `change` to the ModelProto of an ONNX file, in place; external data stays where it is."""
    onnx = _import_onnx()
    model = onnx.load(str(path), load_external_data=False)
    change(model)
    onnx.save(model, str(path))


def _drop_initializer_shapes(model: Any) -> None:
    weights = {t.name for t in model.graph.initializer}
    kept = [v for v in model.graph.value_info if v.name not in weights]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)


def _files(path: Path) -> list[Path]:
    """An ONNX file and the external data files it names."""
    onnx = _import_onnx()
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    locations = {ExternalDataInfo(t).location for t in model.graph.initializer if uses_external_data(t)}
    return [path] + [path.parent / location for location in sorted(locations)]


def _export(module: nn.Module, raw: npt.NDArray[np.float32], path: Path, opset: int, output: str) -> str:
    """Write `module` to `path` with the dynamo exporter, else the TorchScript one; return which."""
    example = (torch.from_numpy(raw),)
    external = sum(t.numel() * t.element_size() for t in module.state_dict().values()) > _EXTERNAL_DATA_BYTES
    # torch.export prints the whole partial graph to stderr when it fails: keep it for --verbose
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            # the example batch is 2: torch.export specialises a batch of 1 and refuses it as dynamic
            torch.onnx.export(
                module,
                example,
                path,
                dynamo=True,
                external_data=external,
                dynamic_shapes={"raw": {0: torch.export.Dim("batch", min=1)}},
                verbose=False,
                input_names=["raw"],
                output_names=[output],
                opset_version=opset,
            )
        sys.stderr.write(printed.getvalue())
        return "dynamo"
    except Exception as err:  # whatever torch.export cannot trace, the TorchScript tracer may
        _LOG.info("the dynamo exporter failed (%s); using the TorchScript exporter", type(err).__name__)
        _LOG.debug("dynamo exporter error:\n%s", printed.getvalue(), exc_info=True)
    with warnings.catch_warnings():
        # shape checks traced as constants are right here: only the batch dimension varies
        # (the ignore: torch.jit imports TracerWarning from torch.jit._trace but leaves it out of __all__)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            example,
            path,
            dynamo=False,
            dynamic_axes={"raw": {0: "batch"}, output: {0: "batch"}},
            input_names=["raw"],
            output_names=[output],
            opset_version=opset,
        )
    return "torchscript"


def _without_metadata(model: GeoModel) -> AdapterConfig:
    """The model's config as the exported graph has it: taking no scene metadata.

    Raises:
        AdapterError: The adapter records that it was trained with metadata its encoder conditions on.
    """
    given = model.config.input.metadata
    taken = [kind for kind in model.encoder.scene_metadata() if given is None or kind in given]
    if given is not None and taken:
        raise AdapterError(
            f"adapter {model.config.name or '(unnamed)'} was trained with scene metadata "
            f"({', '.join(taken)}), which an exported ONNX graph does not take: run it with the torch runtime"
        )
    if taken:  # not recorded: the graph runs as the model does without them
        _LOG.warning(
            "the ONNX graph takes no scene metadata (%s): it predicts as the model does without them",
            ", ".join(taken),
        )
    return dataclasses.replace(model.config, input=dataclasses.replace(model.config.input, metadata=()))


def export_onnx(
    model: GeoModel,
    path: str | Path,
    *,
    tile_size: int | None = None,
    opset: int = 18,
    overwrite: bool = False,
) -> ExportReport:
    """Write `model` as an ONNX graph from raw band values to class probabilities, and check it against torch.

    A copy of the model is exported (the caller's is unchanged), with LoRA merged into the base weights so
    that the graph is the plain base architecture. Input ``raw`` (batch, C, [T,] tile, tile) float32,
    output ``probabilities`` (segmentation: the softmax over classes) or ``logits`` (`graph_output`);
    the batch is dynamic. The file appears whole or not at all. The check compares what `OnnxRunner`
    returns (log-probabilities for segmentation) with torch's (its log-softmax).

    Args:
        model: The model to export.
        path: The ``.onnx`` file to write.
        tile_size: Tile side in pixels; default the adapter's. A multiple of the encoder's patch size.
        opset: ONNX opset version.
        overwrite: Replace an existing file.

    The graph takes no scene metadata (dates, coordinates): the file records that its model takes none,
    and an adapter trained with them is refused (it would compute something else without them).

    Raises:
        OptionError: The tile size is not in [1, `MAX_TILE`].
        InputShapeError: The tile size is no multiple of what the encoder needs.
        AdapterError: The adapter was trained with scene metadata its encoder conditions on.
        OutputExistsError: `path` exists and `overwrite` is False.
        MissingDependencyError: onnx is not installed.
    """
    started = time.perf_counter()
    path = Path(path)
    config = _without_metadata(model)
    tile = tile_size or model.config.inference.tile_size
    multiple = model.encoder.features.input_multiple
    if not 1 <= tile <= MAX_TILE:  # the bound of every tile size (config.Inference), before allocating
        raise OptionError(f"`tile_size` must be between 1 and {MAX_TILE} pixels, got {tile:,}")
    if tile % multiple:
        raise InputShapeError(f"the tile size must be a multiple of {multiple} for this encoder, got {tile}")
    onnx = _import_onnx()
    exported = copy.deepcopy(model).cpu().eval()
    raw = example_raw(model.config, 2, tile)
    output = graph_output(config)
    with torch.inference_mode():
        logits = _RawInput(exported, probabilities=False)(torch.from_numpy(raw))
        expected = (logits.log_softmax(1) if output == "probabilities" else logits).numpy()
    if exported.method.unload is not None:  # a plain base architecture exports and runs best
        exported.merge_and_unload()
    with staged_file(path, overwrite=overwrite) as staged:
        graph = _RawInput(exported, probabilities=output == "probabilities").eval()
        exporter = _export(graph, raw, staged, opset, output)
        props = onnx_metadata(config, tile, "fp32")
        _edit(staged, lambda proto: onnx.helper.set_model_props(proto, props))
        onnx.checker.check_model(str(staged))  # the path-based check also reads external data
        runner = OnnxRunner(staged, device="cpu")
        # a batch of 1 as well: a traced graph that kept the example's batch of 2 fails here
        got = np.concatenate([runner(raw), runner(raw[:1])])
        size = sum(f.stat().st_size for f in _files(staged))
    max_abs_diff = float(np.abs(got - np.concatenate([expected, expected[:1]])).max())
    return ExportReport(path, max_abs_diff, time.perf_counter() - started, exporter, size)


def _agreement(reference: npt.NDArray[np.float32], other: npt.NDArray[np.float32], task: str) -> float:
    if task == "segmentation":
        return float((reference.argmax(1) == other.argmax(1)).mean())
    return float(((reference > 0) == (other > 0)).mean())


def quantize_int8(
    onnx_path: str | Path,
    int8_path: str | Path,
    *,
    check: npt.NDArray[np.float32] | None = None,
    overwrite: bool = False,
) -> QuantizeReport:
    """Write an int8 copy of an exported model (dynamic quantisation) and compare it with fp32.

    Weights of MatMul and Gemm (every Linear) become int8 and activations are quantised on the fly.
    Convolutions stay fp32: onnxruntime's ConvInteger is slower than its fp32 convolution and less
    accurate. int8 is about twice as fast on CPUs but approximate, so it is never used unless asked
    for: check the agreement on real data.

    Args:
        onnx_path: An fp32 model written by `export_onnx`.
        int8_path: The int8 file to write.
        check: Raw batch to compare on; default random values around the input contract's mean.
        overwrite: Replace an existing file.

    Raises:
        CheckpointError: `onnx_path` is int8 already.
        OutputExistsError: `int8_path` exists and `overwrite` is False.
        MissingDependencyError: onnx is not installed.
    """
    onnx = _import_onnx()
    onnx_path, int8_path = Path(onnx_path), Path(int8_path)
    fp32 = OnnxRunner(onnx_path, device="cpu")
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    if fp32.precision != "fp32":
        raise CheckpointError(f"{onnx_path} is {fp32.precision} already: quantise the fp32 model")
    fp32_files = _files(onnx_path)
    external = len(fp32_files) > 1
    raw = check if check is not None else example_raw(fp32.config, 2, fp32.tile_size)
    props = fp32.session.get_modelmeta().custom_metadata_map
    with staged_file(int8_path, overwrite=overwrite) as staged:
        # onnx shape inference only: the quantiser wants tensor types (and warns without this step)
        shaped = staged.with_name(f".shaped.{staged.name}")
        quant_pre_process(
            onnx_path,
            shaped,
            skip_optimization=True,
            skip_symbolic_shape=True,
            save_as_external_data=external,
            all_tensors_to_one_file=True,
        )
        # the quantiser rewrites Gemm as MatMul with a transposed weight but keeps the weight's old shape in
        # the value_info that the dynamo exporter writes for initializers; they are redundant anyway
        _edit(shaped, _drop_initializer_shapes)
        quantize_dynamic(
            shaped,
            staged,
            op_types_to_quantize=["MatMul", "Gemm"],
            weight_type=QuantType.QInt8,
            use_external_data_format=external,
        )
        for file in _files(shaped):
            file.unlink()
        _edit(staged, lambda proto: onnx.helper.set_model_props(proto, {**props, "precision": "int8"}))
        onnx.checker.check_model(str(staged))
        expected, got = fp32(raw), OnnxRunner(staged, device="cpu")(raw)
        int8_bytes = sum(f.stat().st_size for f in _files(staged))
    return QuantizeReport(
        int8_path,
        _agreement(expected, got, fp32.config.task),
        float(np.abs(got - expected).max()),
        sum(f.stat().st_size for f in fp32_files),
        int8_bytes,
    )
