"""FCN decoder (Long et al. 2015, "Fully Convolutional Networks for Semantic Segmentation").

TerraTorch's `FCNDecoder` followed by its 1x1 segmentation head: each step doubles the resolution
with a 2x2 transposed convolution, then refines with a 3x3 convolution, a channels-first LayerNorm
and GELU.
"""

from torch import Tensor, nn

__all__ = ["ChannelLayerNorm", "FCNDecoder"]


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map, at every pixel (eps 1e-6 as TerraTorch)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised map, same shape."""
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FCNDecoder(nn.Module):
    """``num_convs`` x [ConvTranspose2d 2x2 /2, Conv 3x3, ChannelLayerNorm, GELU], then 1x1 to classes.

    Args:
        in_channels: Channels of the feature map.
        num_classes: Number of classes.
        channels: Width of every step.
        num_convs: Number of steps; the output is ``2**num_convs`` times the map's resolution.
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int = 512, num_convs: int = 4) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            *(
                nn.Sequential(
                    nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, 2, 2),
                    nn.Conv2d(channels, channels, 3, padding=1),
                    ChannelLayerNorm(channels),
                    nn.GELU(),
                )
                for i in range(num_convs)
            )
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        """Logits (B, num_classes, h * 2**num_convs, w * 2**num_convs) of the last map (B, C, h, w)."""
        logits: Tensor = self.classifier(self.convs(maps[-1]))
        return logits
