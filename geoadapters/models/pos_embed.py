"""Fixed sin-cos embeddings of the MAE family (Prithvi): 1D, 3D, and resizing to other grids.

Formulas of MAE (He et al. 2021) as extended to 3D by Prithvi-EO-2.0: the width is split
w : h : t = 6 : 6 : 4 sixteenths, each part is a 1D sin-cos code, and a zero vector is prepended for
the class token. Resizing follows the reference: bicubic interpolation with ``align_corners=True``
of the spatial grid, after recomputing the code when the number of frames changes.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["resize_pos_embed", "sincos_1d", "sincos_3d"]


def sincos_1d(dim: int, pos: Tensor) -> Tensor:
    """MAE 1D sin-cos code of positions: ``[sin(p w_i), cos(p w_i)]``, ``w_i = 10000^(-2i/dim)``.

    Args:
        dim: Code width (even).
        pos: Positions of any shape, float; the code is computed in their dtype.

    Returns:
        Tensor of shape ``pos.shape + (dim,)``.
    """
    if dim % 2:
        raise ValueError(f"sin-cos width must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=pos.dtype, device=pos.device) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = pos.unsqueeze(-1) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sincos_3d(dim: int, grid: tuple[int, int, int], *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Prithvi's 3D code for a (frames, rows, cols) token grid, class-token row first.

    Computed in float64 and cast to `dtype`, as the reference computes it in NumPy.

    Returns:
        Tensor of shape ``(1, 1 + t * h * w, dim)``; token order is (t, h, w) row-major.
    """
    if dim % 16:
        raise ValueError(f"3D sin-cos width must be a multiple of 16, got {dim}")
    t, h, w = grid
    parts = []
    for size, width in ((w, dim // 16 * 6), (h, dim // 16 * 6), (t, dim // 16 * 4)):
        parts.append(sincos_1d(width, torch.arange(size, dtype=torch.float64)))
    w_code = parts[0].repeat(t * h, 1)
    h_code = parts[1].repeat_interleave(w, dim=0).repeat(t, 1)
    t_code = parts[2].repeat_interleave(h * w, dim=0)
    code = torch.cat([w_code, h_code, t_code], dim=1)
    code = torch.cat([torch.zeros(1, dim, dtype=code.dtype), code], dim=0)
    return code.unsqueeze(0).to(dtype)


def resize_pos_embed(pos_embed: Tensor, grid: tuple[int, int, int], new_grid: tuple[int, int, int]) -> Tensor:
    """Position embedding for another token grid, computed the way the reference does.

    Args:
        pos_embed: ``(1, 1 + prod(grid), dim)`` embedding built for `grid`.
        grid: (frames, rows, cols) of `pos_embed`.
        new_grid: (frames, rows, cols) wanted.
    """
    if tuple(new_grid) == tuple(grid):
        return pos_embed
    dim = pos_embed.shape[-1]
    t, h, w = new_grid
    if t != grid[0]:
        pos_embed = sincos_3d(dim, (t, grid[1], grid[2]), dtype=pos_embed.dtype).to(pos_embed.device)
    cls_code, patch_code = pos_embed[:, :1], pos_embed[:, 1:]
    patch_code = patch_code.reshape(t, grid[1], grid[2], dim).permute(0, 3, 1, 2)
    patch_code = F.interpolate(patch_code, size=(h, w), mode="bicubic", align_corners=True)
    patch_code = patch_code.permute(0, 2, 3, 1).reshape(1, t * h * w, dim)
    return torch.cat([cls_code, patch_code], dim=1)
