"""The builder of each head of the paper: (features, settings, classes) -> (neck, decoder).

The neck follows the encoder's feature contract (`geoadapters.models.encoder.Features`), as TerraTorch's
`EncoderDecoderFactory` configs of the paper do: token encoders get `SelectIndices` and
`TokensToImage` (and a `LearnedPyramid` for the pyramid decoders UPerNet and U-Net); map encoders get
`SelectIndices` only, and pyramid decoders need their maps at strides 4, 8, 16 and 32 px.
"""

from collections.abc import Sequence

from torch import nn

from geoadapters.heads.classification import ClassificationDecoder
from geoadapters.heads.fcn import FCNDecoder
from geoadapters.heads.linear import LinearDecoder
from geoadapters.heads.necks import LearnedPyramid, Neck, SelectIndices, TokensToImage
from geoadapters.heads.settings import (
    ClassificationSettings,
    FCNSettings,
    LinearSettings,
    UNetSettings,
    UPerNetSettings,
)
from geoadapters.heads.unet import UNetDecoder
from geoadapters.heads.upernet import UPerNetDecoder
from geoadapters.models.encoder import Features

__all__ = ["classification", "fcn", "linear", "unet", "upernet"]

_PYRAMID_STRIDES = [4, 8, 16, 32]


def _check_outputs(features: Features, layers: Sequence[int]) -> None:
    count = len(features.channels)
    wrong = [i for i in layers if not -count <= i < count]
    if wrong:
        raise ValueError(
            f"encoder output {wrong[0]} does not exist: the encoder has {count} outputs "
            f"(indices {-count} to {count - 1})"
        )


def _single_map_neck(features: Features, layer: int) -> tuple[Neck, int]:
    """Neck giving one map of encoder output `layer`, and the map's channels."""
    _check_outputs(features, [layer])
    channels = features.channels[layer]
    if features.kind == "maps":
        return Neck(SelectIndices([layer])), channels
    frames = features.token_frames
    return Neck(SelectIndices([layer]), TokensToImage(features.reductions[layer], frames)), channels * frames


def _pyramid_neck(features: Features, layers: Sequence[int] | None, head: str) -> tuple[Neck, list[int]]:
    """Neck giving 4 maps, each at half the resolution of the one before, and their channels."""
    count = len(features.channels)
    if features.kind == "tokens":
        if layers is None:
            if count < 4:
                raise ValueError(
                    f"the {head!r} head needs 4 encoder outputs and the encoder has {count}; "
                    "use a deeper encoder or pass layers=[...] naming 4 outputs"
                )
            # TerraTorch's choice in the paper: 4 evenly spaced blocks ending at the last.
            layers = [(k + 1) * count // 4 - 1 for k in range(4)]
        _check_outputs(features, layers)
        frames = features.token_frames
        pyramid = LearnedPyramid([features.channels[i] * frames for i in layers])
        to_image = TokensToImage(features.reductions[layers[-1]], frames)
        return Neck(SelectIndices(layers), to_image, pyramid), pyramid.out_channels
    strides = list(features.reductions)
    if layers is None:
        layers = [strides.index(s) for s in _PYRAMID_STRIDES if s in strides]
    _check_outputs(features, layers)
    if [strides[i] for i in layers] != _PYRAMID_STRIDES:
        raise ValueError(
            f"the {head!r} head needs 4 feature maps at strides {_PYRAMID_STRIDES} px; the encoder's "
            f"outputs have strides {strides}; pass layers=[...] naming such maps, or use a "
            "single-map head (linear, fcn)"
        )
    return Neck(SelectIndices(layers)), [features.channels[i] for i in layers]


def linear(features: Features, settings: LinearSettings, num_classes: int) -> tuple[Neck, nn.Module]:
    """The paper's linear head: one transposed convolution of one encoder output."""
    neck, channels = _single_map_neck(features, settings.layer)
    upsampling = features.reductions[settings.layer] if settings.upsampling is None else settings.upsampling
    return neck, LinearDecoder(channels, num_classes, upsampling)


def fcn(features: Features, settings: FCNSettings, num_classes: int) -> tuple[Neck, nn.Module]:
    """FCN: convolutions that each double the resolution of one encoder output."""
    neck, channels = _single_map_neck(features, settings.layer)
    return neck, FCNDecoder(channels, num_classes, settings.channels, settings.num_convs)


def upernet(features: Features, settings: UPerNetSettings, num_classes: int) -> tuple[Neck, nn.Module]:
    """UPerNet on 4 maps of the encoder (a learned pyramid for token encoders)."""
    neck, channels = _pyramid_neck(features, settings.layers, settings.name)
    return neck, UPerNetDecoder(channels, num_classes, settings.channels, settings.pool_scales)


def unet(features: Features, settings: UNetSettings, num_classes: int) -> tuple[Neck, nn.Module]:
    """U-Net on 4 maps of the encoder (a learned pyramid for token encoders)."""
    neck, channels = _pyramid_neck(features, settings.layers, settings.name)
    return neck, UNetDecoder(channels, num_classes, settings.channels, settings.final_upsample)


def classification(
    features: Features, settings: ClassificationSettings, num_classes: int
) -> tuple[Neck, nn.Module]:
    """Multi-label classification of one pooled encoder output."""
    neck, channels = _single_map_neck(features, settings.layer)
    return neck, ClassificationDecoder(channels, num_classes)
