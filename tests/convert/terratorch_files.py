"""TerraTorch fine-tunes written in the published layout, from models assembled by hand.

The tensors come from a model built here with our own encoder and heads (random weights, BatchNorm
statistics moved away from their initial values); they are written under TerraTorch's names as the
published checkpoints list them (a Lightning checkpoint dict, ``model.encoder.*``,
``model.neck.<k>.fpn*`` or the legacy ``model.decoder.fpn*``, ``model.decoder.*``,
``model.head.head.2.*``), independently of the importer's mapping. `reference_logits` runs the hand
model as TerraTorch's `PixelWiseModel` does: reflect padding to 32 px split between both sides,
bilinear resize to the padded size, centre crop.
"""

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from geoadapters.backbone import create_backbone
from geoadapters.heads.build import build_head
from geoadapters.heads.head import Head
from geoadapters.models.encoder import Encoder

SMALL_BACKBONE = {"backbone_depth": 4, "backbone_embed_dim": 64, "backbone_num_heads": 4}
BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
MEANS = [0.0333, 0.0570, 0.0589, 0.2323, 0.1973, 0.1194]
STDS = [0.0227, 0.0268, 0.0400, 0.0779, 0.0871, 0.0724]
NECKS: list[dict[str, Any]] = [
    {"name": "SelectIndices", "indices": [0, 1, 2, 3]},
    {"name": "ReshapeTokensToImage"},
    {"name": "LearnedInterpolateToPyramidal"},
]


def hand_model(decoder: str, base: str = "prithvi-300", seed: int = 0, **head: Any) -> tuple[Encoder, Head]:
    """Our encoder (the SMALL overrides) and head, random, with non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    encoder = create_backbone(base, pretrained=False, depth=4, embed_dim=64, num_heads=4, bands=BANDS)
    built = build_head(decoder, encoder, 2, **head)
    for module in [*encoder.modules(), *built.modules()]:
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.uniform_(-0.1, 0.1)
    for name, p in encoder.named_parameters():
        if name.endswith("bias") or "scale" in name:
            p.data.uniform_(-0.1, 0.1)
    return encoder.eval(), built.eval()


def _upernet_name(key: str) -> str:
    """Our UPerNet name -> TerraTorch's (ConvModule's conv / norm, PPM's modules)."""
    key = key.replace("pooling.branches.", "psp_modules.")
    parts = key.split(".")
    # <module>[.<i>].0.<p> -> .conv.<p>, .1.<p> -> .norm.<p>
    parts[-2] = {"0": "conv", "1": "norm"}[parts[-2]]
    return ".".join(parts)


def terratorch_state(
    encoder: Encoder, head: Head, *, legacy: bool = False, neck: int = 2
) -> dict[str, Tensor]:
    """The hand model's tensors under the names of a TerraTorch checkpoint's ``state_dict``."""
    out = {f"model.encoder.{k}": v.clone() for k, v in encoder.state_dict().items()}
    kind = head.name
    for key, value in head.state_dict().items():
        section, _, rest = key.partition(".")
        if section == "neck":  # neck.pyramid.fpn1.* / neck.pyramid.fpn2.*
            fpn, _, tail = rest.removeprefix("pyramid.").partition(".")
            tail = tail if fpn == "fpn1" else f"0.{tail}"
            where = "model.decoder" if legacy else f"model.neck.{neck}"
            out[f"{where}.{fpn}.{tail}"] = value.clone()
            continue
        if rest.startswith("classifier."):
            name = "model.decoder.conv." + rest[len("classifier.") :] if kind == "linear" else None
            out[name or "model.head.head.2." + rest[len("classifier.") :]] = value.clone()
            continue
        if kind == "unet":
            name = f"model.decoder.decoder.{rest}"
        elif kind == "upernet":
            name = f"model.decoder.{_upernet_name(rest)}"
        elif kind == "fcn":  # convs.<i>.2.<p> is Norm2d's LayerNorm "ln"
            parts = rest.split(".")
            if parts[2] == "2":
                parts.insert(3, "ln")
            name = "model.decoder." + ".".join(parts)
        else:
            name = f"model.decoder.{rest}"
        out[name] = value.clone()
    return out


def write_checkpoint(path: Path, state: dict[str, Tensor], lightning: str | None = "2.5.0.post0") -> Path:
    """A weights-only Lightning checkpoint dict, as TerraTorch's CLI writes them."""
    obj: dict[str, Any] = {
        "epoch": 40,
        "global_step": 2665,
        "state_dict": state,
        "loops": {},
        "hparams_name": "kwargs",
        "hyper_parameters": {"model_args": {"backbone": "prithvi_eo_v2_300", "backbone_pretrained": True}},
    }
    if lightning is not None:
        obj["pytorch-lightning_version"] = lightning
    torch.save(obj, path)
    return path


def write_config(
    path: Path, model_args: dict[str, Any], data: dict[str, Any] | None = None, **task: Any
) -> Path:
    """A LightningCLI YAML with a SemanticSegmentationTask, in the layout of burn_scars_config.yaml."""
    init_args = {
        "model_factory": "EncoderDecoderFactory",
        "loss": "ce",
        "ignore_index": -1,
        "freeze_backbone": False,
        "class_names": ["Not burned", "Burn scar"],
        "model_args": model_args,
    } | task
    config = {
        "seed_everything": 42,
        "trainer": {"max_epochs": 5, "precision": "bf16-mixed"},
        "data": data
        or {
            "class_path": "GenericNonGeoSegmentationDataModule",
            "init_args": {
                "batch_size": 8,
                "dataset_bands": BANDS,
                "output_bands": BANDS,
                "means": MEANS,
                "stds": STDS,
                "no_data_replace": 0,
                "no_label_replace": -1,
                "num_classes": 2,
            },
        },
        "model": {"class_path": "terratorch.tasks.SemanticSegmentationTask", "init_args": init_args},
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 1e-4}},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def model_args(decoder: str, **extra: Any) -> dict[str, Any]:
    """``model_args`` of a small prithvi_eo_v2_300 fine-tune with the standard necks."""
    return {
        "backbone": "prithvi_eo_v2_300",
        "backbone_pretrained": True,
        "backbone_bands": BANDS,
        **SMALL_BACKBONE,
        "necks": NECKS,
        "decoder": decoder,
        "num_classes": 2,
    } | extra


def reference_logits(encoder: Encoder, head: Head, x: Tensor) -> Tensor:
    """TerraTorch's PixelWiseModel forward on the hand model: pad, encode, neck, decode, resize, crop."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % 32, -width % 32
    top, left = pad_h // 2, pad_w // 2
    padded = F.pad(x, (left, pad_w - left, top, pad_h - top), mode="reflect")
    size = (padded.shape[-2], padded.shape[-1])
    with torch.no_grad():
        logits = head.decoder(head.neck(encoder.forward_features(padded), size))
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear")
    return logits[..., top : top + height, left : left + width]
