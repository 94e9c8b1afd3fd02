"""Several adapters of one frozen base in one batched encoder pass (as S-LoRA and vLLM serve LoRAs).

Each adapter that can join states what it adds to the base as a `Segment`: low-rank updates of base
Linears (LoRA) and prompt tokens before every block (VPT); a linear probe adds nothing. `BatchedEncoder`
runs the base once on the tiles repeated per segment: the patch embedding runs once, the batch is
repeated before the first block, every frozen base weight serves all segments in one matmul, each
adapted Linear adds each segment's ``x_g @ A_g^T @ (s_g B_g)^T`` (one segmented ``bmm`` over the
stacked matrices, ranks zero-padded to the largest), and each block gets each segment's prompts.

The segments of one pass need the same number of tokens per block, so one pass holds segments with
the same number of prompts (all LoRAs and probes: none); padding prompts to the largest count would
need a key mask in every family's attention. Its module tree is a copy of the base's holding the very
same tensors, with its own hooks, so it never changes what the base or another pass computes.
"""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from geoadapters.errors import AdapterError
from geoadapters.models.encoder import Encoder

__all__ = ["BatchedEncoder", "LowRank", "Segment"]


@dataclass(frozen=True)
class LowRank:
    """``scaling * B @ A`` added to the output rows `rows` of the base Linear named `module`."""

    module: str
    rows: slice
    a: Tensor  # (r, in)
    b: Tensor  # (len(rows), r)
    scaling: float


@dataclass(frozen=True)
class Segment:
    """What one adapter adds to the base encoder in a batched pass.

    Attributes:
        low_rank: Updates of base Linears inside the transformer blocks.
        prompts: One (1, n, D) prompt per transformer block, inserted after the class token; empty: none.
    """

    low_rank: tuple[LowRank, ...] = ()
    prompts: tuple[Tensor, ...] = ()

    @property
    def tokens(self) -> int:
        """Prompt tokens per block (0: none); the segments of one pass have the same."""
        return self.prompts[0].shape[1] if self.prompts else 0


def _stacked(updates: list[list[LowRank]], linear: nn.Linear) -> tuple[Tensor, Tensor]:
    """A (G, in, R) and scaled B (G, R, out) of every segment, ranks zero-padded to the largest R."""
    ranks = [sum(u.a.shape[0] for u in segment) for segment in updates]
    weight = linear.weight
    a = weight.new_zeros(len(updates), linear.in_features, max(ranks))
    b = weight.new_zeros(len(updates), max(ranks), linear.out_features)
    for g, segment in enumerate(updates):
        start = 0
        for u in segment:
            r = u.a.shape[0]
            a[g, :, start : start + r] = u.a.t()
            b[g, start : start + r, u.rows] = u.b.t() * u.scaling
            start += r
    return a, b


class BatchedEncoder(nn.Module):
    """The base encoder running several segments at once, each with what its adapter adds.

    ``forward_features`` of (B, ...) tiles gives features of (G x B, ...) tokens, segment-major (the
    rows of segment g are ``g*B:(g+1)*B``).

    Raises:
        AdapterError: Segments with different prompt counts, prompts not one per block, or updates
            of modules that are no Linear inside the blocks.
    """

    def __init__(self, base: Encoder, segments: Sequence[Segment]) -> None:
        super().__init__()
        if len({s.tokens for s in segments}) > 1:
            raise AdapterError("segments of one batched pass need the same number of prompt tokens")
        shared = {id(t): t for t in (*base.parameters(), *base.buffers())}
        self.encoder = copy.deepcopy(base, memo=shared)  # new modules holding the very same tensors
        self.count = len(segments)
        blocks = self.encoder.transformer_blocks()
        names = {id(block): name for name, block in self.encoder.named_modules()}
        prefixes = tuple(f"{names[id(block)]}." for block in blocks)
        by_module: dict[str, list[list[LowRank]]] = {}
        for g, segment in enumerate(segments):
            if segment.prompts and len(segment.prompts) != len(blocks):
                raise AdapterError(f"{len(segment.prompts)} prompts for {len(blocks)} blocks")
            for update in segment.low_rank:
                if not update.module.startswith(prefixes):
                    raise AdapterError(f"{update.module} is not inside a transformer block")
                by_module.setdefault(update.module, [[] for _ in segments])[g].append(update)
        for name, updates in by_module.items():
            linear = self.encoder.get_submodule(name)
            if not isinstance(linear, nn.Linear):
                raise AdapterError(f"{name} is no Linear")
            a, b = _stacked(updates, linear)
            linear.register_forward_hook(self._low_rank(a, b))
        for index, block in enumerate(blocks):
            prompts = [s.prompts[index] for s in segments] if segments[0].tokens else None
            block.register_forward_pre_hook(self._inserter(index == 0, prompts))
            if prompts is not None:
                block.register_forward_hook(self._remover(segments[0].tokens))

    def _low_rank(self, a: Tensor, b: Tensor) -> Any:
        def add(module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> Tensor:
            x = args[0].reshape(self.count, -1, a.shape[1])
            delta = torch.bmm(torch.bmm(x, a.to(x.dtype)), b.to(x.dtype))
            return output + delta.view(output.shape).to(output.dtype)

        return add

    def _inserter(self, first: bool, prompts: list[Tensor] | None) -> Any:
        def insert(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            tokens = args[0].repeat(self.count, *([1] * (args[0].ndim - 1))) if first else args[0]
            if prompts is not None:
                batch = tokens.shape[0] // self.count
                inserted = torch.cat([p.expand(batch, -1, -1) for p in prompts])
                tokens = torch.cat([tokens[:, :1], inserted, tokens[:, 1:]], dim=1)
            return (tokens, *args[1:])

        return insert

    def _remover(self, tokens: int) -> Any:
        def remove(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> Tensor:
            return torch.cat([output[:, :1], output[:, 1 + tokens :]], dim=1)

        return remove

    def forward_features(self, x: Tensor, **metadata: Any) -> list[Tensor]:
        """Features of every segment, (G x B, ...) per level, segment-major."""
        return self.encoder.forward_features(x, **metadata)
