"""Deep visual prompt tuning (VPT, Jia et al. 2022, arXiv 2203.12119) for the ViT encoders.

Before every block, learned prompt tokens are inserted right after the class token; after the block
their outputs are dropped, so every block sees class + prompts + patches and the encoder's outputs
keep their shape (the paper's section 3, TerraTorch's ``backbone_vpt``). The insertion is done by forward
hooks on the blocks, so the base parameters keep their names and the encoder code is unchanged.
"""

import math
from typing import Any

import torch
from torch import Tensor, nn

from geoadapters.errors import AdapterError
from geoadapters.methods.batched import Segment
from geoadapters.methods.method import Method, owned_state
from geoadapters.methods.settings import VptSettings
from geoadapters.models.encoder import Encoder

__all__ = ["VPT", "VisualPrompts", "apply_vpt"]


class VisualPrompts(nn.Module):
    """One (1, n, D) prompt per block, inserted and removed around it by hooks.

    Args:
        blocks: The encoder's transformer blocks.
        dim: Token width.
        patch_size: Patch size; sets the initial range like the original VPT code.
        settings: Number of tokens and dropout.
    """

    def __init__(self, blocks: nn.ModuleList, dim: int, patch_size: int, settings: VptSettings) -> None:
        super().__init__()
        self.n_tokens = settings.prompt_tokens
        # uniform(-v, v) with v = sqrt(6 / (3 p^2 + D)), as KMnP/vpt and TerraTorch initialise prompts
        bound = math.sqrt(6.0 / (3 * patch_size**2 + dim))
        self.prompts = nn.ParameterList(
            nn.Parameter(torch.empty(1, self.n_tokens, dim).uniform_(-bound, bound)) for _ in blocks
        )
        self.dropout = nn.Dropout(settings.prompt_dropout)
        for index, block in enumerate(blocks):
            block.register_forward_pre_hook(self._inserter(index))
            block.register_forward_hook(self._remove)

    def _inserter(self, index: int) -> Any:
        def insert(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            tokens = args[0]
            prompts = self.dropout(self.prompts[index].expand(tokens.shape[0], -1, -1))
            return (torch.cat([tokens[:, :1], prompts, tokens[:, 1:]], dim=1), *args[1:])

        return insert

    def _remove(self, module: nn.Module, args: tuple[Any, ...], output: Tensor) -> Tensor:
        return torch.cat([output[:, :1], output[:, 1 + self.n_tokens :]], dim=1)


def apply_vpt(encoder: Encoder, settings: VptSettings) -> Encoder:
    """Attach deep prompts as ``encoder.vpt``; only the prompts stay trainable."""
    if encoder.features.kind != "tokens":
        raise AdapterError(f"VPT is for the ViT encoders (prithvi, clay), not {encoder.spec.name}")
    blocks = encoder.transformer_blocks()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    dim, patch_size = encoder.features.channels[0], encoder.features.reductions[0]
    encoder.vpt = VisualPrompts(blocks, dim, patch_size, settings)
    return encoder


def _fits(encoder: Encoder, settings: VptSettings) -> str | None:
    return None if encoder.features.kind == "tokens" else "it has no transformer blocks to put prompts in"


def vpt_segment(encoder: Encoder) -> Segment:
    """The prompts of every block, for a batched pass (`geoadapters.methods.batched`)."""
    prompts = encoder.get_submodule("vpt")
    assert isinstance(prompts, VisualPrompts)
    return Segment(prompts=tuple(prompts.prompts))


VPT = Method(
    apply=apply_vpt, fits=_fits, segment=vpt_segment, **owned_state(lambda name: name.startswith("vpt."))
)
