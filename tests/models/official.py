"""Checkpoints in the official on-disk layouts, written from the published key lists.

These follow the files as published, not our modules: Prithvi v2 is PrithviMAE (``encoder.*``,
``decoder.*``, position embeddings for the 4-frame pretraining grid), Prithvi v1 is flat timm-MAE
(``decoder_*``, ``mask_token``), Clay is a Lightning checkpoint (``state_dict`` with
``model.encoder.*``), DeCUR is a timm ResNet state dict with a classifier.
"""

from pathlib import Path

import torch
from torch import Tensor

__all__ = ["clay_checkpoint", "prithvi_checkpoint", "reference_keys", "resnet_checkpoint"]


def reference_keys(path: Path, section: str) -> tuple[list[tuple[str, tuple[int, ...]]], dict[str, int]]:
    """(name, shape) rows and the header counts of one section of prithvi_state_dict.txt."""
    rows: list[tuple[str, tuple[int, ...]]] = []
    counts: dict[str, int] = {}
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("=== "):
            inside = line[4:].startswith(section)
            continue
        if not inside:
            continue
        if line.startswith("# class="):
            for part in line.split():
                if "=" in part and part.split("=")[0] in ("keys", "params"):
                    key, value = part.split("=")
                    counts[key] = int(value.replace(",", ""))
        elif line and not line.startswith("#"):
            name, shape = line.split("\t")[:2]
            rows.append((name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    return rows, counts


def _vit_encoder(
    dim: int, depth: int, bands: int, patch: int, frames: int, gen: torch.Generator
) -> dict[str, Tensor]:
    grid = frames * (224 // patch) ** 2
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, grid + 1, dim),
        "patch_embed.proj.weight": (dim, bands, 1, patch, patch),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(depth):
        for name, shape in (
            ("norm1.weight", (dim,)),
            ("norm1.bias", (dim,)),
            ("attn.qkv.weight", (3 * dim, dim)),
            ("attn.qkv.bias", (3 * dim,)),
            ("attn.proj.weight", (dim, dim)),
            ("attn.proj.bias", (dim,)),
            ("norm2.weight", (dim,)),
            ("norm2.bias", (dim,)),
            ("mlp.fc1.weight", (4 * dim, dim)),
            ("mlp.fc1.bias", (4 * dim,)),
            ("mlp.fc2.weight", (dim, 4 * dim)),
            ("mlp.fc2.bias", (dim,)),
        ):
            shapes[f"blocks.{i}.{name}"] = shape
    shapes["norm.weight"] = (dim,)
    shapes["norm.bias"] = (dim,)
    return {k: torch.randn(s, generator=gen) * 0.05 for k, s in shapes.items()}


def prithvi_checkpoint(
    path: Path, *, dim: int, depth: int, version: int = 2, tl: bool = False, bands: int = 6, seed: int = 0
) -> dict[str, Tensor]:
    """Write a Prithvi checkpoint in the official layout; return the encoder tensors (our names)."""
    gen = torch.Generator().manual_seed(seed)
    encoder = _vit_encoder(dim, depth, bands, 16, 4 if version == 2 else 3, gen)
    if tl:
        encoder["temporal_embed_enc.scale"] = torch.rand(1, generator=gen)
        encoder["location_embed_enc.scale"] = torch.rand(1, generator=gen)
    decoder = {
        "decoder_embed.weight": torch.randn(32, dim, generator=gen),
        "decoder_embed.bias": torch.randn(32, generator=gen),
        "decoder_blocks.0.norm1.weight": torch.randn(32, generator=gen),
        "decoder_norm.weight": torch.randn(32, generator=gen),
        "decoder_pred.weight": torch.randn(16 * 16 * bands, 32, generator=gen),
        "decoder_pos_embed": torch.randn(1, 4 * 196 + 1, 32, generator=gen),
    }
    if version == 2:
        state = {f"encoder.{k}": v for k, v in encoder.items()}
        state |= {f"decoder.{k}": v for k, v in decoder.items()}
        state["decoder.mask_token"] = torch.randn(1, 1, 32, generator=gen)
        if tl:
            state["decoder.temporal_embed_dec.scale"] = torch.rand(1, generator=gen)
    else:
        state = dict(encoder) | decoder | {"mask_token": torch.randn(1, 1, 32, generator=gen)}
    torch.save(state, path)
    return {k: v for k, v in encoder.items() if k != "pos_embed"}


def clay_checkpoint(path: Path, model_state: dict[str, Tensor], seed: int = 0) -> dict[str, Tensor]:
    """Write a Lightning checkpoint whose encoder has the names and shapes of `model_state`."""
    gen = torch.Generator().manual_seed(seed)
    encoder = {k: torch.randn(v.shape, generator=gen) * 0.05 for k, v in model_state.items()}
    state = {f"model.encoder.{k}": v for k, v in encoder.items()}
    state["model.decoder.mask_patch"] = torch.randn(1, 1, 8, generator=gen)
    state["model.teacher.norm.weight"] = torch.randn(8, generator=gen)
    torch.save(
        {"epoch": 99, "global_step": 1000, "hyper_parameters": {"lr": 1e-4}, "state_dict": state}, path
    )
    return encoder


def resnet_checkpoint(path: Path, model_state: dict[str, Tensor], seed: int = 0) -> dict[str, Tensor]:
    """Write a timm-named ResNet state dict with a 1000-class classifier, as torchgeo hosts them."""
    gen = torch.Generator().manual_seed(seed)
    state = {
        k: torch.randn(v.shape, generator=gen) * 0.05 if v.is_floating_point() else v.clone()
        for k, v in model_state.items()
    }
    torch.save(
        state | {"fc.weight": torch.randn(1000, 2048, generator=gen), "fc.bias": torch.zeros(1000)}, path
    )
    return state
