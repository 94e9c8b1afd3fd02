"""U-Net decoder (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image Segmentation").

What TerraTorch's `UNetDecoder` builds from segmentation_models_pytorch's `UnetDecoder` (first map
duplicated, no centre block, BatchNorm), followed by its 1x1 segmentation head, written here without
that dependency (parameter names equal smp's): from the deepest of 4 maps, each block up-samples x2
(nearest), concatenates the next finer map, and applies two 3x3 ConvBNReLU. The last block has no
skip and by default still doubles the resolution, as smp < 0.5 did when the paper was run, so the
logits come out at half the stride of the finest map (1/2 of the input for strides 4..32); smp >= 0.5
sizes that block to the duplicated finest map instead (1/4), which ``final_upsample=False`` gives
(``UnetDecoder.forward`` resizes each block to the next skip's size; the wrapper duplicates the first
map: terratorch/models/decoders/unet_decoder.py, IBM/terratorch@0251647d (v1.1.1, smp 0.5.0) against
@2b436b2c (v1.1, smp <= 0.4)).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.heads.blocks import ConvBNReLU

__all__ = ["UNetBlock", "UNetDecoder"]


class UNetBlock(nn.Module):
    """Up-sample x2, concatenate a skip map if given, then two 3x3 ConvBNReLU.

    Args:
        in_channels: Channels of the map from below.
        skip_channels: Channels of the skip map (0 for none).
        out_channels: Channels of the output.
        upsample: Without a skip, double the resolution (else keep it).
    """

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, upsample: bool = True
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = ConvBNReLU(in_channels + skip_channels, out_channels, 3)
        self.conv2 = ConvBNReLU(out_channels, out_channels, 3)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        """The block output at the skip's resolution; without a skip, at twice ``x``'s (or ``x``'s)."""
        if skip is None:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            # To the skip's size rather than x2, so odd sides (e.g. a 7 -> 3 max-pool) still line up.
            x = torch.cat([F.interpolate(x, size=skip.shape[2:], mode="nearest"), skip], dim=1)
        out: Tensor = self.conv2(self.conv1(x))
        return out


class UNetDecoder(nn.Module):
    """Four `UNetBlock` from the deepest map up, then a 1x1 convolution to classes.

    Args:
        in_channels: Channels of the 4 input maps, finest first.
        num_classes: Number of classes.
        channels: Output channels of the 4 blocks, deepest first.
        final_upsample: Whether the last block doubles the resolution (smp < 0.5) or keeps it (smp >= 0.5).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (512, 256, 128, 64),
        final_upsample: bool = True,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(channels):
            raise ValueError(
                f"the U-Net takes one block per input map: {len(in_channels)} maps, {len(channels)} widths"
            )
        deepest, *skips = reversed(in_channels)
        inputs = [deepest, *channels[:-1]]
        self.blocks = nn.ModuleList(
            UNetBlock(i, s, o, final_upsample) for i, s, o in zip(inputs, [*skips, 0], channels, strict=True)
        )
        self.classifier = nn.Conv2d(channels[-1], num_classes, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # As segmentation_models_pytorch's initialize_decoder, which the reference calls on the blocks
        # only; its 1x1 segmentation head keeps PyTorch's default initialisation.
        for module in self.blocks.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, maps: list[Tensor]) -> Tensor:
        """Logits at twice the resolution of the first (finest) map, or at it without `final_upsample`."""
        x, *skips = reversed(maps)
        for block, skip in zip(self.blocks, [*skips, None], strict=True):
            x = block(x, skip)
        logits: Tensor = self.classifier(x)
        return logits
