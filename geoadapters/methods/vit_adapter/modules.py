"""Building blocks of ViT-Adapter (Chen et al. 2022, arXiv 2205.08534).

Spatial prior module, injector, extractor and interaction block, as in the paper's code and TerraTorch's
``vit_adapter_modules.py``; module names match TerraTorch's, so the adapter's state-dict keys do too.
``nn.BatchNorm2d`` stands in for TerraTorch's ``nn.SyncBatchNorm``, which needs a distributed process
group to train; the two hold the same parameters and buffers.
"""

from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from geoadapters.methods.vit_adapter.deform_attn import MSDeformAttn
from geoadapters.models.prithvi import drop_path as drop_path_module

__all__ = [
    "SPM_STRIDES",
    "VIT_STRIDE",
    "ConvFFN",
    "DeformInputs",
    "Extractor",
    "Injector",
    "InteractionBlock",
    "LevelwiseDWConv",
    "SpatialPriorModule",
    "deform_inputs",
]

# Strides in pixels of the spatial prior's token maps c2, c3, c4 and of the ViT tokens.
SPM_STRIDES = (8, 16, 32)
VIT_STRIDE = 16


class DeformInputs(NamedTuple):
    """Where one deformable attention looks: the queries' reference points and the value maps.

    Attributes:
        reference_points: (1, queries, 1, 2) query centres, (x, y) in [0, 1] of the image.
        spatial_shapes: (levels, 2) long (height, width) of each value map.
        level_start_index: (levels,) offset of each value map in the flattened values.
        query_shapes: (height, width) of each query map, in token order.
    """

    reference_points: Tensor
    spatial_shapes: Tensor
    level_start_index: Tensor
    query_shapes: tuple[tuple[int, int], ...]


def _map_shapes(height: int, width: int, strides: Iterable[int]) -> tuple[tuple[int, int], ...]:
    return tuple((height // s, width // s) for s in strides)


def _reference_points(shapes: tuple[tuple[int, int], ...], device: torch.device) -> Tensor:
    """Pixel centres of every map, (x, y) normalised by its size: (1, sum h * w, 1, 2)."""
    points = []
    for h, w in shapes:
        y, x = torch.meshgrid(
            (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h,
            (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w,
            indexing="ij",
        )
        points.append(torch.stack([x.flatten(), y.flatten()], -1))
    return torch.cat(points)[None, :, None]


def _value_maps(shapes: tuple[tuple[int, int], ...], device: torch.device) -> tuple[Tensor, Tensor]:
    """(spatial_shapes, level_start_index) of maps flattened and concatenated in this order."""
    spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=device)
    sizes = spatial_shapes.prod(1)
    return spatial_shapes, torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])


def deform_inputs(x: Tensor) -> tuple[DeformInputs, DeformInputs]:
    """Reference points and value maps of the injector and of the extractor for an image batch.

    Args:
        x: (B, C, H, W) input; H and W multiples of 32.

    Returns:
        ``(to_vit, to_spm)``: the injector's (queries: ViT tokens at 1/16; values: spatial prior tokens at
        1/8, 1/16, 1/32) and the extractor's (queries: spatial prior tokens; values: ViT tokens).
    """
    height, width = x.shape[-2:]
    spm_shapes = _map_shapes(height, width, SPM_STRIDES)
    vit_shapes = _map_shapes(height, width, (VIT_STRIDE,))
    to_vit = DeformInputs(
        _reference_points(vit_shapes, x.device), *_value_maps(spm_shapes, x.device), vit_shapes
    )
    to_spm = DeformInputs(
        _reference_points(spm_shapes, x.device), *_value_maps(vit_shapes, x.device), spm_shapes
    )
    return to_vit, to_spm


def _conv_bn_relu(in_chans: int, out_chans: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_chans, out_chans, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_chans),
        nn.ReLU(inplace=True),
    ]


class SpatialPriorModule(nn.Module):
    """Convolutional stem that gives the adapter local detail at strides 4, 8, 16 and 32.

    Args:
        in_chans: Input bands.
        inplanes: Width of the stem (64 in the paper); the later stages have 2x and 4x.
        embed_dim: Width of the ViT, which every output is projected to.
    """

    def __init__(self, in_chans: int, inplanes: int, embed_dim: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn_relu(in_chans, inplanes, 2),
            *_conv_bn_relu(inplanes, inplanes, 1),
            *_conv_bn_relu(inplanes, inplanes, 1),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.conv2 = nn.Sequential(*_conv_bn_relu(inplanes, 2 * inplanes, 2))
        self.conv3 = nn.Sequential(*_conv_bn_relu(2 * inplanes, 4 * inplanes, 2))
        self.conv4 = nn.Sequential(*_conv_bn_relu(4 * inplanes, 4 * inplanes, 2))
        self.fc1 = nn.Conv2d(inplanes, embed_dim, kernel_size=1)
        self.fc2 = nn.Conv2d(2 * inplanes, embed_dim, kernel_size=1)
        self.fc3 = nn.Conv2d(4 * inplanes, embed_dim, kernel_size=1)
        self.fc4 = nn.Conv2d(4 * inplanes, embed_dim, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """c1 as a map (B, D, H/4, W/4); c2, c3, c4 as tokens (B, h * w, D) at strides 8, 16, 32."""
        c1 = self.stem(x)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        tokens = [
            fc(c).flatten(2).transpose(1, 2) for fc, c in ((self.fc2, c2), (self.fc3, c3), (self.fc4, c4))
        ]
        return self.fc1(c1), *tokens


class LevelwiseDWConv(nn.Module):
    """A 3x3 depthwise convolution applied to each level of a multi-level token sequence."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def forward(self, x: Tensor, shapes: tuple[tuple[int, int], ...]) -> Tensor:
        """Convolve (B, sum h * w, C) tokens laid out as maps of `shapes`."""
        levels = torch.split(x, [h * w for h, w in shapes], dim=1)
        out = [
            self.dwconv(torch.unflatten(level.transpose(1, 2), 2, shape)).flatten(2).transpose(1, 2)
            for level, shape in zip(levels, shapes, strict=True)
        ]
        return torch.cat(out, dim=1)


class ConvFFN(nn.Module):
    """ViT-Adapter's convolutional feed-forward: Linear, depthwise 3x3 conv, GELU, Linear.

    Args:
        dim: Token width.
        hidden_dim: Hidden width.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = LevelwiseDWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor, shapes: tuple[tuple[int, int], ...]) -> Tensor:
        """Transform (B, sum h * w, D) tokens laid out as maps of `shapes`."""
        out: Tensor = self.fc2(self.act(self.dwconv(self.fc1(x), shapes)))
        return out


class _NormedCrossAttention(nn.Module):
    """Deformable attention from normalised queries to normalised features (injector and extractor)."""

    def __init__(self, dim: int, levels: int, num_heads: int, n_points: int, deform_ratio: float) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(dim)
        self.feat_norm = nn.LayerNorm(dim)
        self.attn = MSDeformAttn(dim, levels, num_heads, n_points, deform_ratio)

    def attend(self, query: Tensor, feat: Tensor, inputs: DeformInputs) -> Tensor:
        """The attention output of `query` over `feat`, laid out as `inputs` says."""
        out: Tensor = self.attn(
            self.query_norm(query),
            inputs.reference_points,
            self.feat_norm(feat),
            inputs.spatial_shapes,
            inputs.level_start_index,
        )
        return out


class Injector(_NormedCrossAttention):
    """Spatial prior -> ViT: ViT tokens attend to the prior's three maps; the result is scaled by gamma.

    Args:
        dim: Token width.
        num_heads: Deformable attention heads.
        n_points: Sampling points per head and level.
        deform_ratio: Value width of the attention over `dim`.
        init_values: Initial gamma; 0 leaves the ViT's tokens unchanged at initialisation.
    """

    def __init__(
        self, dim: int, num_heads: int, n_points: int, deform_ratio: float, init_values: float
    ) -> None:
        super().__init__(dim, len(SPM_STRIDES), num_heads, n_points, deform_ratio)
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, query: Tensor, feat: Tensor, inputs: DeformInputs) -> Tensor:
        """ViT tokens (B, L, D) updated from the prior's tokens `feat`."""
        return query + self.gamma * self.attend(query, feat, inputs)


class Extractor(_NormedCrossAttention):
    """ViT -> spatial prior: the prior's tokens attend to the ViT tokens, optionally followed by a ConvFFN.

    Args:
        dim: Token width.
        num_heads: Deformable attention heads.
        n_points: Sampling points per head.
        deform_ratio: Value width of the attention over `dim`.
        with_cffn: Add a ConvFFN after the attention.
        cffn_ratio: Hidden width of the ConvFFN over `dim`.
        drop_path: Stochastic depth of the ConvFFN branch.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        n_points: int,
        deform_ratio: float,
        with_cffn: bool,
        cffn_ratio: float,
        drop_path: float,
    ) -> None:
        super().__init__(dim, 1, num_heads, n_points, deform_ratio)
        self.with_cffn = with_cffn
        if with_cffn:
            self.ffn = ConvFFN(dim, int(dim * cffn_ratio))
            self.ffn_norm = nn.LayerNorm(dim)
            self.drop_path = drop_path_module(drop_path)

    def forward(self, query: Tensor, feat: Tensor, inputs: DeformInputs) -> Tensor:
        """Prior tokens (B, Lc, D) updated from the ViT tokens `feat`."""
        query = query + self.attend(query, feat, inputs)
        if self.with_cffn:
            query = query + self.drop_path(self.ffn(self.ffn_norm(query), inputs.query_shapes))
        return query


class InteractionBlock(nn.Module):
    """Inject into the ViT, run a chunk of its blocks, extract back (twice more on the last interaction).

    Args:
        dim: Token width.
        num_heads: Deformable attention heads.
        n_points: Sampling points per head and level.
        deform_ratio: Value width of the attention over `dim`.
        init_values: Initial gamma of the injector.
        with_cffn: Give the extractors a ConvFFN.
        cffn_ratio: Hidden width of the ConvFFN over `dim`.
        drop_path: Stochastic depth of the ConvFFN branches.
        extra_extractor: Add two more extractors (the paper does on the last interaction).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        n_points: int,
        deform_ratio: float,
        init_values: float,
        with_cffn: bool,
        cffn_ratio: float,
        drop_path: float,
        extra_extractor: bool,
    ) -> None:
        super().__init__()
        self.injector = Injector(dim, num_heads, n_points, deform_ratio, init_values)

        def extractor() -> Extractor:
            return Extractor(dim, num_heads, n_points, deform_ratio, with_cffn, cffn_ratio, drop_path)

        self.extractor = extractor()
        self.extra_extractors = nn.ModuleList(extractor() for _ in range(2)) if extra_extractor else None

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        blocks: Iterable[nn.Module],
        to_vit: DeformInputs,
        to_spm: DeformInputs,
    ) -> tuple[Tensor, Tensor]:
        """Updated ViT tokens `x` (B, L, D) and spatial prior tokens `c` (B, Lc, D)."""
        x = self.injector(x, c, to_vit)
        for block in blocks:
            x = block(x)
        c = self.extractor(c, x, to_spm)
        for extractor in self.extra_extractors or ():
            c = extractor(c, x, to_spm)
        return x, c
