"""Each head's settings as a frozen dataclass of the paper's defaults (registered in `heads.registry`).

Marti-Escofet et al. 2025 (arXiv 2504.17397): `LinearDecoder` in every PEFT run; FCN (512 channels,
4 convolutions), UPerNet (256 channels) and UNet (512, 256, 128, 64) in the decoder ablation. Plain
data without torch, so adapter configs can be read and validated without building a model.
"""

from typing import Annotated, ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from geoadapters._serde import SCHEMA, Settings

__all__ = [
    "ClassificationSettings",
    "FCNSettings",
    "HeadSettings",
    "LinearSettings",
    "UNetSettings",
    "UPerNetSettings",
]


# Upper bounds of what an adapter file may declare (far above the paper's decoders: 512 channels, 4
# convolutions), so that reading one never makes the process allocate without limit.
_MAX_CHANNELS = 8192
_MAX_STEPS = 16
_MAX_POOL = 64
_MAX_LAYER = 128

_Channels = Annotated[int, Field(ge=1, le=_MAX_CHANNELS)]
_Pool = Annotated[int, Field(ge=1, le=_MAX_POOL)]
# An index of an encoder output; negative counts from the end.
_Layer = Annotated[int, Field(ge=-_MAX_LAYER, lt=_MAX_LAYER)]
# 4 encoder outputs, or None.
_Layers = Annotated[tuple[_Layer, ...], Field(min_length=4, max_length=4)] | None


@dataclass(frozen=True, config=SCHEMA)
class HeadSettings(Settings):
    """Base of the head settings: `Settings` gives the JSON round trip (`to_dict`, `from_dict`).

    Attributes:
        name: Registry name of the head.
        task: ``"segmentation"`` (logits per pixel) or ``"multilabel"`` (logits per image).
    """

    name: ClassVar[str]
    task: ClassVar[str] = "segmentation"


@dataclass(frozen=True, config=SCHEMA)
class LinearSettings(HeadSettings):
    """One transposed convolution from one encoder output to class logits (the paper's head).

    Attributes:
        upsampling: Kernel size and stride; None means the stride of the selected output, which
            gives logits at input resolution (16 for Prithvi, 8 for Clay, 32 for the ResNet).
        layer: Index of the encoder output to decode; negative counts from the end.
    """

    name: ClassVar[str] = "linear"
    upsampling: _Pool | None = None
    layer: _Layer = -1


@dataclass(frozen=True, config=SCHEMA)
class FCNSettings(HeadSettings):
    """Fully convolutional decoder: each step doubles the resolution of one encoder output.

    Attributes:
        channels: Width of every step.
        num_convs: Number of steps (each x2 up-sampling).
        layer: Index of the encoder output to decode; negative counts from the end.
    """

    name: ClassVar[str] = "fcn"
    channels: _Channels = 512
    num_convs: Annotated[int, Field(ge=1, le=_MAX_STEPS)] = 4
    layer: _Layer = -1


@dataclass(frozen=True, config=SCHEMA)
class UPerNetSettings(HeadSettings):
    """UPerNet: pyramid pooling on the deepest of 4 maps, then a feature pyramid, fused.

    Attributes:
        channels: Width of the pooling branches, the pyramid and the fusion.
        pool_scales: Output sizes of the adaptive average pools of the pyramid pooling module.
        layers: The 4 encoder outputs to use; None means 4 evenly spaced blocks ending at the last
            for token encoders (``[5, 11, 17, 23]`` of 24, ``[2, 5, 8, 11]`` of 12) and the maps at
            strides 4, 8, 16 and 32 px for map encoders.
    """

    name: ClassVar[str] = "upernet"
    channels: _Channels = 256
    pool_scales: Annotated[tuple[_Pool, ...], Field(min_length=1, max_length=16)] = (1, 2, 3, 6)
    layers: _Layers = None


@dataclass(frozen=True, config=SCHEMA)
class UNetSettings(HeadSettings):
    """U-Net decoder over 4 maps: up-sample, concatenate the next skip, two convolutions; repeat.

    Attributes:
        channels: Width of each of the 4 decoder blocks, deepest first.
        layers: The 4 encoder outputs to use; None picks them as for `UPerNetSettings`.
        final_upsample: Whether the last block (which has no skip) doubles the resolution, as
            segmentation_models_pytorch < 0.5 did (TerraTorch <= 1.1, the paper); False keeps the finest
            map's resolution, as smp >= 0.5 (TerraTorch >= 1.1.1). Same weights, different logits.
    """

    name: ClassVar[str] = "unet"
    channels: Annotated[tuple[_Channels, ...], Field(min_length=4, max_length=4)] = (512, 256, 128, 64)
    layers: _Layers = None
    final_upsample: bool = True


@dataclass(frozen=True, config=SCHEMA)
class ClassificationSettings(HeadSettings):
    """Multi-label classification: average of one encoder output over space, then a Linear layer.

    Attributes:
        layer: Index of the encoder output to pool; negative counts from the end.
    """

    name: ClassVar[str] = "classification"
    task: ClassVar[str] = "multilabel"
    layer: _Layer = -1
