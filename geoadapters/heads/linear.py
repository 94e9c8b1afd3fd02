"""Linear decoder: the head of every PEFT run of Marti-Escofet et al. 2025 (arXiv 2504.17397).

TerraTorch's `LinearDecoder`: a single transposed convolution whose kernel and stride equal the
up-sampling factor, so each feature-map cell is mapped linearly to the class logits of its pixels.
"""

from torch import Tensor, nn

__all__ = ["LinearDecoder"]


class LinearDecoder(nn.Module):
    """One ``ConvTranspose2d(in_channels -> num_classes, kernel = stride = upsampling)``.

    It has ``in_channels * num_classes * upsampling**2 + num_classes`` parameters (524,290 for
    Prithvi-EO-2.0-300M, 2 classes, x16).

    Args:
        in_channels: Channels of the feature map.
        num_classes: Number of classes.
        upsampling: Up-sampling factor (the stride of the map gives input resolution).
    """

    def __init__(self, in_channels: int, num_classes: int, upsampling: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, num_classes, kernel_size=upsampling, stride=upsampling)

    def forward(self, maps: list[Tensor]) -> Tensor:
        """Logits (B, num_classes, h * upsampling, w * upsampling) of the last map (B, C, h, w)."""
        logits: Tensor = self.conv(maps[-1])
        return logits
