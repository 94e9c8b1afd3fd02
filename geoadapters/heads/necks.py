"""Necks: from an encoder's outputs to the feature maps a decoder reads.

TerraTorch's necks (terratorch/models/necks.py) as the paper used them: `SelectIndices`,
`ReshapeTokensToImage` (here `TokensToImage`, which takes the token grid from the image size instead
of assuming a square one) and `LearnedInterpolateToPyramidal` (here `LearnedPyramid`, the multi-scale
adapter of BEiT's segmentation setup, Bao et al. 2021, with TerraTorch's channel reductions).
"""

from collections.abc import Sequence

from torch import Tensor, nn

from geoadapters.errors import InputShapeError

__all__ = ["LearnedPyramid", "Neck", "SelectIndices", "TokensToImage"]


class SelectIndices(nn.Module):
    """Picks encoder outputs by index; negative indices count from the end.

    Args:
        indices: Indices of the outputs to keep, in the order to return them.
    """

    def __init__(self, indices: Sequence[int]) -> None:
        super().__init__()
        self.indices = list(indices)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """The selected outputs."""
        count = len(features)
        missing = [i for i in self.indices if not -count <= i < count]
        if missing:
            raise InputShapeError(
                f"the head reads encoder outputs {self.indices} but the encoder gave {count}; "
                "build the head for this encoder"
            )
        return [features[i] for i in self.indices]


class TokensToImage(nn.Module):
    """Drops the class token and folds frames into channels: (B, 1 + T*h*w, D) -> (B, T*D, h, w).

    Tokens are ordered frame, row, column, as a ViT flattens its patch grid; channel ``t * D + d``
    holds width ``d`` of frame ``t``.

    Args:
        reduction: Patch size in pixels: the token grid is image height and width over it.
        frames: T, frames of tokens (input frames over the tubelet size).
    """

    def __init__(self, reduction: int, frames: int = 1) -> None:
        super().__init__()
        self.reduction = reduction
        self.frames = frames

    def forward(self, features: list[Tensor], image_size: tuple[int, int]) -> list[Tensor]:
        """Each token tensor as a feature map of the image's token grid.

        Args:
            features: Token tensors (B, 1 + T*h*w, D).
            image_size: (H, W) of the encoder input, which gives h = H / reduction, w = W / reduction.
        """
        rows, cols = (side // self.reduction for side in image_size)
        out = []
        for tokens in features:
            batch, count, width = tokens.shape
            if count != 1 + self.frames * rows * cols:
                raise InputShapeError(
                    f"{count} tokens do not fit a {image_size[0]} x {image_size[1]} px input: expected "
                    f"1 + {self.frames} x {rows} x {cols} for {self.reduction} px patches; "
                    "pass the size of the image the encoder saw"
                )
            grid = tokens[:, 1:].reshape(batch, self.frames, rows, cols, width)
            out.append(grid.permute(0, 1, 4, 2, 3).reshape(batch, self.frames * width, rows, cols))
        return out


class LearnedPyramid(nn.Module):
    """Four maps of one stride s -> maps at strides s/4, s/2, s and 2s, as a pyramid decoder needs.

    The first map is up-sampled x4 by two 2x2 transposed convolutions (BatchNorm and GELU between)
    to a quarter of its channels, the second x2 by one to half of its channels; the third is kept
    and the fourth max-pooled by 2.

    Args:
        channels: Channels of the 4 input maps.
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"a learned pyramid takes exactly 4 maps, got {len(channels)} channel counts")
        first, second, third, fourth = channels
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(first, first // 2, 2, 2),
            nn.BatchNorm2d(first // 2),
            nn.GELU(),
            nn.ConvTranspose2d(first // 2, first // 4, 2, 2),
        )
        self.fpn2 = nn.ConvTranspose2d(second, second // 2, 2, 2)
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.out_channels = [first // 4, second // 2, third, fourth]

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """The 4 maps, finest first."""
        first, second, third, fourth = features
        return [self.fpn1(first), self.fpn2(second), third, self.fpn4(fourth)]


class Neck(nn.Module):
    """`SelectIndices`, then `TokensToImage` for token encoders, then a `LearnedPyramid` if one is given.

    Args:
        select: Which encoder outputs to use.
        to_image: Token folding, for encoders whose outputs are tokens.
        pyramid: Learned multi-scale maps, for pyramid decoders on token encoders.
    """

    def __init__(
        self,
        select: SelectIndices,
        to_image: TokensToImage | None = None,
        pyramid: LearnedPyramid | None = None,
    ) -> None:
        super().__init__()
        self.select = select
        self.to_image = to_image
        self.pyramid = pyramid

    def forward(self, features: list[Tensor], image_size: tuple[int, int]) -> list[Tensor]:
        """Feature maps (B, C, h, w) for the decoder.

        Args:
            features: Every output of the encoder.
            image_size: (H, W) of the encoder input.
        """
        maps: list[Tensor] = self.select(features)
        if self.to_image is not None:
            maps = self.to_image(maps, image_size)
        if self.pyramid is not None:
            maps = self.pyramid(maps)
        return maps
