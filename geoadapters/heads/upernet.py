"""UPerNet decoder (Xiao et al. 2018, "Unified Perceptual Parsing for Scene Understanding").

TerraTorch's `UperNetDecoder` (adapted from mmsegmentation's `UPerHead`) followed by its 1x1
segmentation head: a pyramid pooling module (PSPNet, Zhao et al. 2017) on the deepest map, a feature
pyramid (FPN, Lin et al. 2017) of lateral 1x1 and output 3x3 convolutions with a top-down path, and
a 3x3 fusion of all levels at the finest resolution. Resizing is bilinear with ``align_corners=True``,
as in the reference.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.errors import InputShapeError
from geoadapters.heads.blocks import ConvBNReLU

__all__ = ["PyramidPooling", "UPerNetDecoder"]


def _resize(x: Tensor, size: Sequence[int]) -> Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class PyramidPooling(nn.Module):
    """Average-pools a map to each scale, projects it with a 1x1 ConvBNReLU, resizes it back.

    Args:
        in_channels: Channels of the map.
        channels: Channels of each branch.
        pool_scales: Output side of each branch's adaptive average pool.
    """

    def __init__(self, in_channels: int, channels: int, pool_scales: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(scale), ConvBNReLU(in_channels, channels, 1))
            for scale in pool_scales
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """One (B, channels, h, w) map per scale."""
        return [_resize(branch(x), x.shape[2:]) for branch in self.branches]


class UPerNetDecoder(nn.Module):
    """Pyramid pooling + feature pyramid + fusion over 4 maps, then a 1x1 convolution to classes.

    Args:
        in_channels: Channels of the input maps, finest first.
        num_classes: Number of classes.
        channels: Width of the pooling branches, the pyramid and the fusion.
        pool_scales: Output sides of the pyramid pooling module.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        channels: int = 256,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
    ) -> None:
        super().__init__()
        self.pool_scales = tuple(pool_scales)
        *finer, deepest = in_channels
        self.pooling = PyramidPooling(deepest, channels, pool_scales)
        self.bottleneck = ConvBNReLU(deepest + len(pool_scales) * channels, channels, 3)
        self.lateral_convs = nn.ModuleList(ConvBNReLU(c, channels, 1) for c in finer)
        self.fpn_convs = nn.ModuleList(ConvBNReLU(channels, channels, 3) for _ in finer)
        self.fpn_bottleneck = ConvBNReLU(len(in_channels) * channels, channels, 3)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        """Logits at the resolution of the first (finest) map."""
        *finer, deepest = maps
        if self.training and deepest.shape[0] == 1 and 1 in self.pool_scales:
            # BatchNorm of a 1x1 pooled map sees one value per channel: PyTorch's own error is cryptic.
            raise InputShapeError(
                "UPerNet's 1x1 pyramid pooling uses BatchNorm, which needs 2 or more images per "
                "training batch (as in the reference); train with batch size >= 2, or call .eval()"
            )
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, finer, strict=True)]
        laterals.append(self.bottleneck(torch.cat([deepest, *self.pooling(deepest)], dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[2:])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals[:-1], strict=True)]
        outs.append(laterals[-1])
        size = outs[0].shape[2:]
        fused = self.fpn_bottleneck(torch.cat([outs[0], *(_resize(x, size) for x in outs[1:])], dim=1))
        logits: Tensor = self.classifier(fused)
        return logits
