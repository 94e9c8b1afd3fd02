"""TerraTorch fine-tuned models (a LightningCLI YAML + a Lightning checkpoint) as `GeoModel`.

What is read, and where TerraTorch defines it (IBM/terratorch@0251647d is v1.1.1; torchgeo/terratorch
@f34a1c2c is the repository's later home):

- The YAML's ``model.init_args.model_args`` as `EncoderDecoderFactory.build_model` routes them
  (terratorch/models/encoder_decoder_factory.py): ``backbone_*`` to the Prithvi backbone
  (terratorch/models/backbones/prithvi_vit.py), ``necks`` (terratorch/models/necks.py),
  ``decoder``/``decoder_*`` (terratorch/models/decoders/), ``head_*`` to `SegmentationHead`
  (terratorch/models/heads/segmentation_head.py), whose classifier is ``head.head.2``.
- The YAML's ``data`` for the input contract: `GenericNonGeoSegmentationDataModule`'s ``means``,
  ``stds``, ``constant_scale``, ``no_data_replace``
  (terratorch/datamodules/generic_pixel_wise_data_module.py), or the constants of
  `Sen1Floods11NonGeoDataModule` (terratorch/datamodules/sen1floods11.py).
- The checkpoint's ``state_dict`` with TerraTorch's renames (terratorch/cli_tools.py, ``from_config``):
  ``_timm_module.`` dropped, then the task's leading ``model.``; the pyramid neck's ``neck.<k>.fpn*``
  or, for configs trained with ``decoder_scale_modules: true``, the same tensors as ``decoder.fpn*``
  (terratorch/models/utils.py, ``register_legacy_scale_modules_hook``, torchgeo/terratorch@f34a1c2c).
- `PixelWiseModel`'s padding: reflect to a multiple of twice the patch, split between both sides,
  logits centre-cropped (``pad_images``/``center_crop`` in terratorch/models/utils.py,
  torchgeo/terratorch@f34a1c2c), recorded in the adapter's `Padding`.
- The U-Net variant: segmentation_models_pytorch < 0.5 (TerraTorch <= 1.1) up-samples in the last
  block, smp >= 0.5 (TerraTorch >= 1.1.1) does not. The checkpoint records the Lightning version that
  wrote it; TerraTorch 0.99.8 to 1.0.2 pinned Lightning <= 2.5.1.post0 with smp <= 0.4 (their
  pyproject.toml), so such checkpoints get the up-sampling block. Newer or unrecorded versions cannot
  tell the two apart: the caller says which (``final_upsample``).

Nothing else is guessed: a key the importer does not support is a `ConversionError` naming it.
The types and bounds of the keys it reads are one schema, `TerraTorchFile` (strict, numbers finite and
bounded; other sections of the YAML, such as ``trainer``, are not read). The YAML is read with
``yaml.safe_load`` (tags that build objects are refused), at most 1 MB and at most 100 000 values once
its aliases are expanded (no alias bombs). The checkpoint is read with
``torch.load(weights_only=True)``; nothing is unpickled.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor

from geoadapters._serde import JSON_LIMIT, SCHEMA, explain
from geoadapters.catalog import get_base
from geoadapters.config import MAX_CLASSES, AdapterConfig, BaseRef, Inference, Padding
from geoadapters.errors import ConversionError, GeoAdaptersError
from geoadapters.geomodel import ENCODER_PREFIX, HEAD_PREFIX, GeoModel
from geoadapters.heads.registry import head_settings
from geoadapters.heads.settings import HeadSettings
from geoadapters.methods.registry import method_settings
from geoadapters.models.checkpoint import read_checkpoint, state_mismatch
from geoadapters.specs import InputSpec

__all__ = ["TerraTorchFile", "TerraTorchModel", "from_terratorch", "read_terratorch"]

# TerraTorch backbone names -> catalog names (terratorch/models/backbones/prithvi_vit.py, prithvi_cfgs).
BACKBONES = {
    "prithvi_eo_v1_100": "prithvi-100",
    "prithvi_eo_v2_tiny_tl": "prithvi-v2-tiny-tl",
    "prithvi_eo_v2_100_tl": "prithvi-v2-100-tl",
    "prithvi_eo_v2_300": "prithvi-300",
    "prithvi_eo_v2_300_tl": "prithvi-300-tl",
    "prithvi_eo_v2_600": "prithvi-600",
    "prithvi_eo_v2_600_tl": "prithvi-600-tl",
}
# backbone_* arguments taken as architecture overrides, and those with no effect on inference.
_ARCH_ARGS = ("embed_dim", "depth", "num_heads", "mlp_ratio", "img_size", "num_frames", "coords_scale_learn")
_IGNORED_BACKBONE_ARGS = ("pretrained", "drop_path", "ckpt_path")
# Task arguments accepted: training and evaluation settings (tiled_inference_parameters: `_tiling`).
_TRAINING_TASK_ARGS = {
    "model_factory", "loss", "ignore_index", "lr", "optimizer", "optimizer_hparams", "scheduler",
    "scheduler_hparams", "freeze_backbone", "freeze_decoder", "freeze_head", "class_weights", "plot_on_val",
    "class_names", "tiled_inference_parameters", "test_dataloaders_names", "lr_overrides",
    "output_on_inference", "output_most_probable", "path_to_record_metrics", "tiled_inference_on_testing",
    "aux_loss",
}  # fmt: skip
_TASKS = ("SemanticSegmentationTask",)
# terratorch.tasks.tiled_inference's defaults: the tiling a published fine-tune was tested with.
_CROP, _STRIDE = 224, 192
_FACTORIES = ("EncoderDecoderFactory",)
# Sen1Floods11NonGeoDataModule.MEANS / STDS (terratorch/datamodules/sen1floods11.py, IBM/terratorch@0251647d):
# Sentinel-2 L1C reflectance (digital numbers x constant_scale 0.0001).
_S1F11_MEANS = {
    "COASTAL_AEROSOL": 0.16450718, "BLUE": 0.1412956, "GREEN": 0.13795798, "RED": 0.12353792,
    "RED_EDGE_1": 0.1481099, "RED_EDGE_2": 0.23991728, "RED_EDGE_3": 0.28587557, "NIR_BROAD": 0.26345379,
    "NIR_NARROW": 0.30902815, "WATER_VAPOR": 0.04911151, "CIRRUS": 0.00652506, "SWIR_1": 0.2044958,
    "SWIR_2": 0.11912015,
}  # fmt: skip
_S1F11_STDS = {
    "COASTAL_AEROSOL": 0.06977374, "BLUE": 0.07406382, "GREEN": 0.07370365, "RED": 0.08692279,
    "RED_EDGE_1": 0.07778555, "RED_EDGE_2": 0.09105416, "RED_EDGE_3": 0.10690993, "NIR_BROAD": 0.10096586,
    "NIR_NARROW": 0.11798815, "WATER_VAPOR": 0.03380113, "CIRRUS": 0.01463465, "SWIR_1": 0.09772074,
    "SWIR_2": 0.07659938,
}  # fmt: skip
# The last Lightning version of the TerraTorch releases that pinned segmentation_models_pytorch <= 0.4.
_LAST_OLD_UNET_LIGHTNING = "2.5.1.post0"

_Text = Annotated[str, Field(max_length=300)]
_Size = Annotated[int, Field(ge=1, le=8192)]
_Bands = Annotated[list[_Text], Field(min_length=1, max_length=256)]
_Stats = Annotated[list[float], Field(min_length=1, max_length=256)]


class _Section(BaseModel):
    """A section of a TerraTorch YAML: keys this importer does not read are left to it (it names them)."""

    model_config = SCHEMA | ConfigDict(extra="allow", frozen=True)


class _DataArgs(_Section):
    bands: _Bands | None = None
    means: _Stats | _Text | None = None
    stds: _Stats | _Text | None = None
    constant_scale: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    no_data_replace: float | None = None


class _Data(_Section):
    class_path: _Text = ""
    init_args: _DataArgs | None = None


class _ModelArgs(_Section):
    backbone: _Text | None = None
    backbone_bands: _Bands | None = None
    backbone_patch_size: Annotated[int, Field(ge=1, le=64)] | Annotated[list[int], Field(max_length=3)] = 16
    backbone_coords_encoding: Annotated[list[_Text], Field(max_length=2)] | None = None
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)]
    head_dropout: Annotated[float, Field(ge=0, le=1)] = 0.0
    necks: Annotated[list[dict[_Text, Any]], Field(max_length=16)] = Field(default_factory=list)
    decoder: _Text = "FCNDecoder"
    decoder_channels: _Size | Annotated[list[_Size], Field(max_length=16)] | None = None
    decoder_num_convs: Annotated[int, Field(ge=1, le=16)] | None = None
    decoder_upsampling_size: Annotated[int, Field(ge=1, le=64)] | None = None
    decoder_in_index: Annotated[int, Field(ge=-128, lt=128)] | None = None
    rescale: bool = True


class _TaskArgs(_Section):
    model_args: _ModelArgs
    model_factory: _Text = "EncoderDecoderFactory"
    class_names: Annotated[list[_Text], Field(max_length=MAX_CLASSES)] | None = None


class _Model(_Section):
    class_path: _Text
    init_args: _TaskArgs


class TerraTorchFile(_Section):
    """The schema of the keys of a TerraTorch LightningCLI YAML that `read_terratorch` reads."""

    model: _Model
    data: _Data | None = None


@dataclass(frozen=True)
class TerraTorchModel:
    """A TerraTorch fine-tune read as an adapter config and the state of a `full` `GeoModel`.

    Attributes:
        config: The adapter config (method ``full``) with the input contract and padding of the YAML.
        state: Every tensor, under `GeoModel.adapter_state_dict` names (encoder and head).
        lightning_version: The Lightning version the checkpoint records, if any.
    """

    config: AdapterConfig
    state: dict[str, Tensor]
    lightning_version: str | None


def _err(key: str, problem: str) -> ConversionError:
    return ConversionError(f"TerraTorch config key {key}: {problem}")


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(key, f"expected a mapping, got {value!r}")
    return dict(value)


def _short(class_path: Any) -> str:
    return str(class_path).rpartition(".")[2]


# Values of a TerraTorch YAML once its aliases are expanded: a real one has a few hundred.
_MAX_NODES = 100_000


def _expanded(node: Any, memo: dict[int, int]) -> int:
    """Values of a composed YAML node with aliases expanded, counted without expanding them."""
    if node is None:
        return 0
    if id(node) not in memo:
        memo[id(node)] = 1  # a node that contains itself counts once
        children = node.value if isinstance(node.value, list) else []
        parts = [p for child in children for p in (child if isinstance(child, tuple) else (child,))]
        memo[id(node)] = 1 + sum(_expanded(p, memo) for p in parts)
    return memo[id(node)]


def _read_yaml(path: Path) -> dict[str, Any]:
    """The YAML's mapping, checked against `TerraTorchFile`; safe tags only, aliases bounded, 1 MB."""
    import yaml

    try:
        if path.stat().st_size > JSON_LIMIT:
            raise ConversionError(f"TerraTorch config {path} is over {JSON_LIMIT:,} bytes")
        text = path.read_text()
        nodes = _expanded(yaml.compose(text, Loader=yaml.SafeLoader), {})
        if nodes > _MAX_NODES:  # aliases of aliases (a "billion laughs"): refused before building it
            raise ConversionError(
                f"TerraTorch config {path} expands to {nodes:,} YAML values through its aliases; "
                f"at most {_MAX_NODES:,}"
            )
        data = yaml.safe_load(text)
    except FileNotFoundError as err:
        raise ConversionError(f"TerraTorch config {path} does not exist") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as err:
        detail = " ".join(str(err).split())[:200]
        raise ConversionError(f"TerraTorch config {path} is not readable YAML: {detail}") from None
    if not isinstance(data, dict):
        raise ConversionError(f"TerraTorch config {path} holds no mapping")
    try:
        TerraTorchFile.model_validate_json(json.dumps(data, default=str))
    except ValidationError as err:
        raise ConversionError(f"TerraTorch config {path} is invalid: {explain(err)}") from None
    return data


def _backbone(model_args: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[str, ...], Padding]:
    """Catalog base, architecture overrides, bands and padding of the ``backbone*`` arguments."""
    name = model_args.pop("backbone", None)
    if name not in BACKBONES:
        raise _err("model.init_args.model_args.backbone", f"{name!r} is not supported; supported: "
                   f"{', '.join(BACKBONES)}")  # fmt: skip
    base = get_base(BACKBONES[name])
    args = {k[len("backbone_") :]: model_args.pop(k) for k in list(model_args) if k.startswith("backbone_")}
    bands = args.pop("bands", None) or base.input.bands
    if not all(isinstance(b, str) for b in bands):
        raise _err("model.init_args.model_args.backbone_bands", f"only band names are supported, got {bands}")
    overrides: dict[str, Any] = {}
    for key in _ARCH_ARGS:
        if key in args:
            overrides[key] = args.pop(key)
    if "coords_encoding" in args:
        overrides["coords_encoding"] = tuple(args.pop("coords_encoding") or ())
    if "patch_size" in args:
        patch = args.pop("patch_size")
        patch = [patch] if isinstance(patch, int) else list(patch)
        if len(patch) == 3:
            overrides["tubelet_size"] = patch[0]
        if patch[-1] != patch[-2 if len(patch) > 1 else -1]:
            raise _err("model.init_args.model_args.backbone_patch_size", f"square patches only, got {patch}")
        overrides["patch_size"] = patch[-1]
    mode = args.pop("padding", "reflect")
    for key in _IGNORED_BACKBONE_ARGS:
        args.pop(key, None)
    if args:
        raise _err(f"model.init_args.model_args.backbone_{sorted(args)[0]}", "not supported by the importer")
    patch_size = overrides.get("patch_size", getattr(base.arch, "patch_size", 16))
    try:
        padding = Padding(mode=mode, multiple=2 * patch_size, centred=True)
    except ValueError as err:
        raise _err("model.init_args.model_args.backbone_padding", str(err)) from err
    return base.name, overrides, tuple(bands), padding


def _necks(necks: Any, depth: int) -> tuple[list[int], int | None]:
    """Selected block indices and the position of the learned pyramid neck (None without one)."""
    key = "model.init_args.model_args.necks"
    if not isinstance(necks, list) or not all(isinstance(n, Mapping) and "name" in n for n in necks):
        raise _err(key, f"expected a list of {{name: ...}} mappings, got {necks!r}")
    indices, pyramid, to_image = list(range(depth)), None, False
    for position, neck in enumerate(necks):
        args = {k: v for k, v in neck.items() if k != "name"}
        where = f"{key}[{position}] ({neck['name']})"
        if neck["name"] == "SelectIndices" and position == 0:
            indices = list(args.pop("indices", indices))
        elif neck["name"] == "ReshapeTokensToImage" and not to_image:
            to_image = True
            if args.pop("remove_cls_token", True) is not True or args.pop("effective_time_dim", 1) != 1:
                raise _err(where, "only remove_cls_token: true and effective_time_dim: 1 are supported")
        elif neck["name"] == "LearnedInterpolateToPyramidal" and to_image and pyramid is None:
            pyramid = position
        else:
            raise _err(where, "not supported here; supported: SelectIndices, ReshapeTokensToImage, "
                       "LearnedInterpolateToPyramidal, in that order")  # fmt: skip
        if args:
            raise _err(f"{where}.{sorted(args)[0]}", "not supported by the importer")
    if not to_image:
        raise _err(key, "a ViT backbone needs a ReshapeTokensToImage neck")
    return indices, pyramid


def _pop_default(args: dict[str, Any], key: str, default: Any, allowed: tuple[Any, ...]) -> Any:
    value = args.pop(key, default)
    if value not in allowed:
        raise _err(f"model.init_args.model_args.decoder_{key}", f"{value!r} is not supported; supported: "
                   f"{', '.join(map(repr, allowed))}")  # fmt: skip
    return value


def _head(
    model_args: dict[str, Any], indices: list[int], pyramid: int | None, final_upsample: bool | None
) -> tuple[HeadSettings, str]:
    """Head settings and the decoder's state layout (unet, upernet, upernet-legacy, fcn, linear)."""
    decoder = _short(model_args.pop("decoder", "FCNDecoder"))
    args = {k[len("decoder_") :]: model_args.pop(k) for k in list(model_args) if k.startswith("decoder_")}
    head_dropout = model_args.pop("head_dropout", 0)  # Dropout: inactive in inference
    if model_args.pop("head_channel_list", None) is not None:
        raise _err(
            "model.init_args.model_args.head_channel_list", "extra head convolutions are not supported"
        )
    head_args = [k for k in model_args if k.startswith("head_")]
    if head_args:
        raise _err(f"model.init_args.model_args.{head_args[0]}", "not supported by the importer")
    layout = decoder.lower().replace("decoder", "")
    settings: dict[str, Any]
    if decoder in ("UNetDecoder", "UperNetDecoder"):
        legacy = decoder == "UperNetDecoder" and bool(args.pop("scale_modules", False)) and pyramid is None
        if pyramid is None and not legacy:
            raise _err(
                "model.init_args.model_args.necks", f"{decoder} needs a LearnedInterpolateToPyramidal neck"
            )
        if len(indices) != 4:
            raise _err(
                "model.init_args.model_args.necks", f"{decoder} needs 4 selected blocks, got {indices}"
            )
        if decoder == "UNetDecoder":
            _pop_default(args, "use_batchnorm", "batchnorm", (True, "batchnorm"))
            _pop_default(args, "attention_type", None, (None,))
            if final_upsample is None:
                raise ConversionError(
                    "the checkpoint does not tell which U-Net it was trained with (TerraTorch <= 1.1 with "
                    "segmentation_models_pytorch < 0.5 up-samples in the last block, >= 1.1.1 does not): "
                    "pass final_upsample=True or False (--unet-final-upsample / --no-unet-final-upsample)"
                )
            name = "unet"
            settings = {"channels": list(args.pop("channels", [])), "final_upsample": final_upsample}
        else:
            _pop_default(args, "align_corners", True, (True,))
            name, layout = "upernet", "upernet-legacy" if legacy else "upernet"
            settings = {
                "channels": args.pop("channels", 256),
                "pool_scales": list(args.pop("pool_scales", (1, 2, 3, 6))),
            }
        settings["layers"] = indices
    elif decoder in ("FCNDecoder", "LinearDecoder"):
        if pyramid is not None:
            raise _err("model.init_args.model_args.necks", f"{decoder} reads one map: no pyramid neck")
        in_index = args.pop("in_index", -1)
        try:
            layer = indices[in_index]
        except (IndexError, TypeError) as err:
            raise _err(
                "model.init_args.model_args.decoder_in_index", f"{in_index!r} is no selected output"
            ) from err
        if decoder == "FCNDecoder":
            name = "fcn"
            settings = {
                "channels": args.pop("channels", 256),
                "num_convs": args.pop("num_convs", 4),
                "layer": layer,
            }
        else:
            if head_dropout:
                raise _err("model.init_args.model_args.head_dropout", "LinearDecoder has no head to drop out")
            if "upsampling_size" not in args:
                raise _err("model.init_args.model_args.decoder_upsampling_size", "required by LinearDecoder")
            name = "linear"
            settings = {"upsampling": args.pop("upsampling_size"), "layer": layer}
    else:
        raise _err("model.init_args.model_args.decoder", f"{decoder!r} is not supported; supported: "
                   "UNetDecoder, UperNetDecoder, FCNDecoder, LinearDecoder")  # fmt: skip
    if args:
        raise _err(f"model.init_args.model_args.decoder_{sorted(args)[0]}", f"not supported for {decoder}")
    try:
        return head_settings(name, **settings), layout
    except (TypeError, ValueError) as err:
        raise _err("model.init_args.model_args.decoder_*", str(err)) from err


def _input(data: dict[str, Any], bands: tuple[str, ...]) -> InputSpec:
    """The input contract of the YAML's data module for the model's bands."""
    module = _short(data.get("class_path", ""))
    args = _mapping(data.get("init_args"), "data.init_args")
    if module == "Sen1Floods11NonGeoDataModule":
        data_bands = tuple(args.get("bands", bands))
        unknown = [b for b in data_bands if b not in _S1F11_MEANS]
        if unknown or len(data_bands) != len(bands):
            raise _err(
                "data.init_args.bands", f"{list(data_bands)} do not match the model's bands {list(bands)}"
            )
        mean = tuple(_S1F11_MEANS[b] for b in data_bands)
        std = tuple(_S1F11_STDS[b] for b in data_bands)
        scale, fill, units = args.get("constant_scale", 0.0001), args.get("no_data_replace", 0), "reflectance"
    elif module == "GenericNonGeoSegmentationDataModule":
        means, stds = args.get("means"), args.get("stds")
        if not isinstance(means, list) or not isinstance(stds, list):
            raise _err(
                "data.init_args.means", "means and stds must be lists of numbers (files are not supported)"
            )
        mean, std = tuple(means), tuple(stds)
        scale, fill, units = args.get("constant_scale", 1), args.get("no_data_replace"), ""
    else:
        raise _err("data.class_path", f"{data.get('class_path')!r} is not supported; supported: "
                   "GenericNonGeoSegmentationDataModule, Sen1Floods11NonGeoDataModule")  # fmt: skip
    try:
        return InputSpec(bands, mean, std, units=units, scale=float(scale),
                         nodata_fill=None if fill is None else float(fill))  # fmt: skip
    except (ValueError, TypeError) as err:
        raise _err("data.init_args", str(err)) from err


def _tiling(parameters: Any) -> Inference:
    """The tiling TerraTorch tested with (``tiled_inference_parameters``: crop, stride, batch_size)."""
    given = _mapping(parameters, "model.init_args.tiled_inference_parameters")
    crop, stride = given.get("crop", _CROP), given.get("stride", _STRIDE)
    if not (isinstance(crop, int) and isinstance(stride, int) and 0 < stride <= crop):
        raise _err("model.init_args.tiled_inference_parameters", f"crop {crop!r} and stride {stride!r}")
    try:
        return Inference(tile_size=crop, overlap=crop - stride, batch_size=given.get("batch_size", 8))
    except (TypeError, ValueError) as err:
        raise _err("model.init_args.tiled_inference_parameters", " ".join(str(err).split())) from None


def _final_upsample(lightning_version: str | None) -> bool | None:
    from packaging.version import InvalidVersion, Version

    try:
        old = lightning_version is not None and Version(lightning_version) <= Version(
            _LAST_OLD_UNET_LIGHTNING
        )
    except InvalidVersion:
        return None
    return True if old else None


def _state_names(layout: str, pyramid: int | None) -> list[tuple[str, str]]:
    """(TerraTorch prefix, GeoModel prefix) pairs of a decoder layout, longest first."""
    pyramid_src = f"neck.{pyramid}." if pyramid is not None else "decoder."
    names = [("encoder.", "encoder."), ("head.head.2.", "head.decoder.classifier.")]
    if layout in ("unet", "upernet", "upernet-legacy"):
        names += [
            (f"{pyramid_src}fpn1.", "head.neck.pyramid.fpn1."),
            (f"{pyramid_src}fpn2.0.", "head.neck.pyramid.fpn2."),
        ]
    if layout == "unet":
        names.append(("decoder.decoder.blocks.", "head.decoder.blocks."))
    elif layout in ("upernet", "upernet-legacy"):
        names += [("decoder.psp_modules.", "head.decoder.pooling.branches.")]
        names += [
            (f"decoder.{m}.", f"head.decoder.{m}.")
            for m in ("bottleneck", "lateral_convs", "fpn_convs", "fpn_bottleneck")
        ]
    elif layout == "fcn":
        names.append(("decoder.convs.", "head.decoder.convs."))
    else:
        names = [("encoder.", "encoder."), ("decoder.conv.", "head.decoder.conv.")]
    return names


def _rename(key: str, layout: str) -> str:
    """The GeoModel name within a decoder of a layout (ConvModule conv/norm and FCN's ln unwrapped)."""
    if layout.startswith("upernet"):
        key = key.replace(".conv.", ".0.").replace(".norm.", ".1.")
    if layout == "fcn":
        key = key.replace(".2.ln.", ".2.")
    return key


def _convert_state(state: Mapping[str, Tensor], layout: str, pyramid: int | None) -> dict[str, Tensor]:
    names = _state_names(layout, pyramid)
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        key = ".".join(part for part in key.split(".") if part != "_timm_module")
        key = key.removeprefix("model.")
        if key == "encoder.pos_embed":  # the fixed sin-cos table, which the encoder computes itself
            continue
        for src, dst in names:
            if key.startswith(src):
                rest = key[len(src) :]
                out[dst + (rest if dst.startswith("encoder.") else _rename("." + rest, layout)[1:])] = value
                break
        else:
            unknown.append(key)
    if unknown:
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise ConversionError(
            f"the checkpoint holds tensors this config does not build: {', '.join(unknown[:5])}{more}"
        )
    return out


def _read_checkpoint(path: Path) -> tuple[dict[str, Tensor], str | None]:
    obj = read_checkpoint(path)
    version = obj.get("pytorch-lightning_version") if isinstance(obj, Mapping) else None
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise ConversionError(f"checkpoint {path} holds no state dict")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    return tensors, None if version is None else str(version)


def read_terratorch(
    config: str | Path,
    checkpoint: str | Path,
    *,
    final_upsample: bool | None = None,
    classes: tuple[str, ...] | list[str] | None = None,
    name: str = "",
) -> TerraTorchModel:
    """Read a TerraTorch YAML and checkpoint as an adapter config (method ``full``) and its tensors.

    Args:
        config: The LightningCLI YAML the checkpoint was trained with (not its ``hyper_parameters``,
            which can describe an older layout than the weights).
        checkpoint: The Lightning checkpoint (``.pt``/``.ckpt``), or a bare state dict.
        final_upsample: The U-Net variant (see `UNetSettings`); None decides from the checkpoint.
        classes: Class names, when the YAML's ``class_names`` has none.
        name: Short name of the adapter.

    Raises:
        ConversionError: A config key or value the importer does not support (named), or tensors that
            do not fit the config.
        CheckpointError: The checkpoint is unreadable.
    """
    data = _read_yaml(Path(config))
    model = _mapping(data.get("model"), "model")
    if _short(model.get("class_path")) not in _TASKS:
        raise _err(
            "model.class_path", f"{model.get('class_path')!r} is not supported; supported: {_TASKS[0]}"
        )
    task = _mapping(model.get("init_args"), "model.init_args")
    model_args = _mapping(task.pop("model_args", None), "model.init_args.model_args")
    if _short(task.get("model_factory", "EncoderDecoderFactory")) not in _FACTORIES:
        raise _err("model.init_args.model_factory", f"{task['model_factory']!r} is not supported")
    for key in ("aux_heads", "peft_config"):
        if task.pop(key, None) or model_args.pop(key, None):
            raise _err(f"model.init_args.{key}", "not supported by the importer")
    unknown = sorted(set(task) - _TRAINING_TASK_ARGS)
    if unknown:
        raise _err(f"model.init_args.{unknown[0]}", "not supported by the importer")
    state, lightning = _read_checkpoint(Path(checkpoint))
    base, overrides, bands, padding = _backbone(model_args)
    try:
        spec = get_base(base).with_overrides(bands=bands, **overrides)
    except (TypeError, ValueError) as err:
        raise _err("model.init_args.model_args.backbone_*", " ".join(str(err).split())) from None
    depth = getattr(spec.arch, "depth")  # noqa: B009 (every Prithvi arch has one)
    indices, pyramid = _necks(model_args.pop("necks", []), depth)
    if final_upsample is None:
        final_upsample = _final_upsample(lightning)
    head, layout = _head(model_args, indices, pyramid, final_upsample)
    num_classes = model_args.pop("num_classes", None)
    if model_args.pop("rescale", True) is not True:
        raise _err("model.init_args.model_args.rescale", "only rescale: true is supported")
    if model_args:
        raise _err(f"model.init_args.model_args.{sorted(model_args)[0]}", "not supported by the importer")
    names = tuple(classes or task.get("class_names") or ())
    if names and len(names) != num_classes:
        raise _err("model.init_args.class_names", f"{len(names)} names for {num_classes} classes")
    adapter = AdapterConfig(
        base=BaseRef.from_spec(spec),
        method=method_settings("full"),
        head=head,
        classes=names or tuple(f"class {i}" for i in range(num_classes)),
        input=_input(_mapping(data.get("data"), "data"), spec.input.bands),
        padding=padding,
        inference=_tiling(task.get("tiled_inference_parameters")),
        name=name,
        provenance={
            "converted_from": "TerraTorch",
            "terratorch_config": Path(config).name,
            "terratorch_checkpoint": Path(checkpoint).name,
            "lightning_version": lightning,
            "unet_final_upsample": final_upsample if head.name == "unet" else None,
        },
    )
    converted = _convert_state(state, layout, pyramid)
    return TerraTorchModel(adapter, converted, lightning)


def from_terratorch(
    config: str | Path,
    checkpoint: str | Path,
    *,
    final_upsample: bool | None = None,
    classes: tuple[str, ...] | list[str] | None = None,
    name: str = "",
) -> GeoModel:
    """A TerraTorch fine-tuned model as a `GeoModel` (method ``full``), in eval mode.

    Its forward gives TerraTorch's logits (`PixelWiseModel(x).output`) for the same normalised input,
    padding included; ``model.normalize`` applies the YAML's input contract. Arguments and errors as
    `read_terratorch`.

    Example:
        >>> model = geoadapters.from_terratorch("burn_scars_config.yaml", "Prithvi_EO_V2_300M_BurnScars.pt")
        >>> model.config.head.name, model.config.padding.mode
        ('unet', 'reflect')
    """
    from geoadapters.geomodel import build_model

    read = read_terratorch(config, checkpoint, final_upsample=final_upsample, classes=classes, name=name)
    try:
        model = build_model(read.config, pretrained=False)
    except (TypeError, ValueError, GeoAdaptersError) as err:
        raise ConversionError(f"the TerraTorch config does not build: {err}") from err
    expected = model.adapter_state_dict()
    given = {_file_name(k): v for k, v in read.state.items()}
    given[ENCODER_PREFIX + "pos_embed"] = expected[ENCODER_PREFIX + "pos_embed"]
    problems = state_mismatch(expected, given)
    if problems:
        raise ConversionError(f"checkpoint {checkpoint} does not fit its config; {problems}")
    model.load_adapter_state_dict(given)
    return model.eval()


def _file_name(key: str) -> str:
    """`GeoModel.adapter_state_dict` name of a converted ``encoder.``/``head.`` tensor."""
    if key.startswith("encoder."):
        return ENCODER_PREFIX + key[len("encoder.") :]
    return HEAD_PREFIX + key[len("head.") :]
