"""Convolution + BatchNorm + ReLU, the unit of the UPerNet and U-Net decoders.

mmsegmentation's `ConvModule` as TerraTorch's UPerNet uses it, and segmentation_models_pytorch's
`Conv2dReLU` as its U-Net decoder uses it: both drop the convolution bias that BatchNorm makes redundant.
"""

from torch import nn

__all__ = ["ConvBNReLU"]


class ConvBNReLU(nn.Sequential):
    """Square convolution with "same" padding and no bias, BatchNorm, ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd kernel size (1 or 3 in the decoders).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
