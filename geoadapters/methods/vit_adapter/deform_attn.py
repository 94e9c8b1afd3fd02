"""Multi-scale deformable attention (Zhu et al. 2020, Deformable DETR, arXiv 2010.04159).

The layer and its initialisation follow Deformable DETR's ``MSDeformAttn``, the version with a value
width ratio that ViT-Adapter (arXiv 2205.08534) and TerraTorch's ``detr_ops`` use. Sampling runs in
plain PyTorch (``F.grid_sample``) on any device, and through Deformable DETR's compiled CUDA extension
``MultiScaleDeformableAttention`` when it is installed and the tensors are on a GPU. TerraTorch has only
the CUDA path, so its ViT-Adapter cannot run on a CPU.
"""

import functools
import importlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from geoadapters.errors import InputShapeError

__all__ = [
    "MSDeformAttn",
    "MSDeformAttnFunction",
    "deform_attn_backend",
    "ms_deform_attn",
    "ms_deform_attn_pytorch",
]

# Largest batch chunk the CUDA extension processes at once (Deformable DETR's default).
_IM2COL_STEP = 64


@functools.cache
def _cuda_kernel() -> ModuleType | None:
    """The compiled extension, or None where it is not installed or cannot load."""
    try:
        return importlib.import_module("MultiScaleDeformableAttention")
    except (ImportError, OSError):
        return None


def deform_attn_backend(value: Tensor) -> Literal["cuda", "pytorch"]:
    """Which implementation attends over `value`: the compiled CUDA extension or plain PyTorch.

    The extension is imported on first use with a CUDA tensor only, so CPU machines never load it.
    """
    if value.is_cuda and _cuda_kernel() is not None:
        return "cuda"
    return "pytorch"


def ms_deform_attn_pytorch(
    value: Tensor,
    spatial_shapes: Sequence[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Deformable attention with ``F.grid_sample``: differentiable, on any device.

    Args:
        value: (N, S, M, Dh) values of every level, flattened row-major and concatenated.
        spatial_shapes: (height, width) of each of the L levels.
        sampling_locations: (N, Lq, M, L, P, 2) points as (x, y) in [0, 1] of each level's map.
        attention_weights: (N, Lq, M, L, P) weights, summing to 1 over levels and points.

    Returns:
        (N, Lq, M * Dh) weighted sums of the bilinearly sampled values (zero outside the maps).
    """
    n, _, heads, head_dim = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    per_level = torch.split(value, [h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample wants [-1, 1]
    samples = []
    for level, (h, w) in enumerate(spatial_shapes):
        # (N, h*w, M, Dh) -> (N*M, Dh, h, w); (N, Lq, M, P, 2) -> (N*M, Lq, P, 2)
        maps = per_level[level].flatten(2).transpose(1, 2).reshape(n * heads, head_dim, h, w)
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        samples.append(F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    # (N*M, Dh, Lq, L*P) weighted by (N*M, 1, Lq, L*P)
    stacked = torch.stack(samples, dim=-2).flatten(-2)
    weights = attention_weights.transpose(1, 2).reshape(n * heads, 1, queries, levels * points)
    out = (stacked * weights).sum(-1).view(n, heads * head_dim, queries)
    return out.transpose(1, 2).contiguous()


class MSDeformAttnFunction(torch.autograd.Function):
    """The CUDA extension's forward and backward as one autograd function (as in Deformable DETR).

    ``apply(kernel, value, spatial_shapes, level_start_index, sampling_locations, attention_weights,
    im2col_step)``, where `kernel` is the imported extension.
    """

    @staticmethod
    def forward(
        ctx: Any,
        kernel: Any,
        value: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
        sampling_locations: Tensor,
        attention_weights: Tensor,
        im2col_step: int,
    ) -> Tensor:
        """Run the extension's forward and keep its inputs for the backward."""
        ctx.kernel = kernel
        ctx.im2col_step = im2col_step
        ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
        out: Tensor = kernel.ms_deform_attn_forward(
            value, spatial_shapes, level_start_index, sampling_locations, attention_weights, im2col_step
        )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        """Gradients of value, sampling locations and attention weights; None for the rest."""
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights = ctx.saved_tensors
        grad_value, grad_locations, grad_weights = ctx.kernel.ms_deform_attn_backward(
            value,
            spatial_shapes,
            level_start_index,
            sampling_locations,
            attention_weights,
            grad_output.contiguous(),
            ctx.im2col_step,
        )
        return None, grad_value, None, None, grad_locations, grad_weights, None


def ms_deform_attn(
    value: Tensor,
    spatial_shapes: Tensor,
    level_start_index: Tensor,
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """Deformable attention on the backend `deform_attn_backend` picks; shapes as `ms_deform_attn_pytorch`."""
    if deform_attn_backend(value) == "pytorch":
        shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
        return ms_deform_attn_pytorch(value, shapes, sampling_locations, attention_weights)
    batch = value.shape[0]
    # The kernel processes the batch in chunks and requires the chunk size to divide the batch.
    step = max(d for d in range(1, min(batch, _IM2COL_STEP) + 1) if batch % d == 0)
    # The kernel is compiled for float32 and float64 only, and expects contiguous inputs.
    out: Tensor = MSDeformAttnFunction.apply(
        _cuda_kernel(),
        value.float().contiguous(),
        spatial_shapes.contiguous(),
        level_start_index.contiguous(),
        sampling_locations.float().contiguous(),
        attention_weights.float().contiguous(),
        step,
    )
    return out.to(value.dtype)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention: each query attends to a few learned points per level and head.

    Args:
        d_model: Width of queries, values and output.
        n_levels: Number of value maps.
        n_heads: Attention heads.
        n_points: Sampling points per head and level.
        ratio: Width of the projected values over `d_model`.
    """

    def __init__(self, d_model: int, n_levels: int, n_heads: int, n_points: int, ratio: float = 1.0) -> None:
        super().__init__()
        value_dim = int(d_model * ratio)
        if d_model % n_heads or value_dim % n_heads:
            raise ValueError(
                f"deformable attention needs d_model ({d_model}) and d_model * ratio ({value_dim}) "
                f"divisible by n_heads ({n_heads}); pick another number of heads"
            )
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.value_dim = value_dim
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, value_dim)
        self.output_proj = nn.Linear(value_dim, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Deformable DETR: offsets start as rays in n_heads directions (on the border of the unit square),
        # point k at distance k + 1; uniform attention; xavier projections.
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([thetas.cos(), thetas.sin()], -1)
        directions = directions / directions.abs().max(-1, keepdim=True).values
        distances = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        grid = directions.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1) * distances
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: Tensor,
        reference_points: Tensor,
        input_flatten: Tensor,
        spatial_shapes: Tensor,
        level_start_index: Tensor,
    ) -> Tensor:
        """Attend from every query around its reference point.

        Args:
            query: (N, Lq, D) queries.
            reference_points: (N or 1, Lq, L or 1, 2) reference (x, y) of each query in [0, 1] of the maps,
                (0, 0) the top-left corner; one point for all levels, or one per level.
            input_flatten: (N, S, D) values of all levels, flattened row-major and concatenated.
            spatial_shapes: (L, 2) long (height, width) of each level.
            level_start_index: (L,) offset of each level in `input_flatten`.

        Returns:
            (N, Lq, D) attention output.
        """
        n, queries, _ = query.shape
        total = int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum())
        if spatial_shapes.shape != (self.n_levels, 2) or input_flatten.shape[1] != total:
            raise InputShapeError(
                f"deformable attention over {self.n_levels} levels got spatial shapes "
                f"{spatial_shapes.tolist()} for {input_flatten.shape[1]} values"
            )
        value = self.value_proj(input_flatten).view(n, total, self.n_heads, self.value_dim // self.n_heads)
        offsets = self.sampling_offsets(query).view(n, queries, self.n_heads, self.n_levels, self.n_points, 2)
        weights = self.attention_weights(query).view(n, queries, self.n_heads, self.n_levels * self.n_points)
        weights = weights.softmax(-1).view(n, queries, self.n_heads, self.n_levels, self.n_points)
        # offsets are in pixels of each level: divide by (width, height)
        normaliser = spatial_shapes.flip(-1).to(offsets.dtype)
        locations = (
            reference_points[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        )
        out = ms_deform_attn(value, spatial_shapes, level_start_index, locations, weights)
        projected: Tensor = self.output_proj(out)
        return projected
