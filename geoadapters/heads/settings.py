"""Each head's settings as a frozen dataclass of the paper's defaults (registered in `heads.registry`).

Marti-Escofet et al. 2025 (arXiv 2504.17397): `LinearDecoder` in every PEFT run; FCN (512 channels,
4 convolutions), UPerNet (256 channels) and UNet (512, 256, 128, 64) in the decoder ablation. Plain
data without torch, so adapter configs can be read and validated without building a model.
"""

from dataclasses import dataclass
from typing import ClassVar

from geoadapters._serde import Settings

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


def _check_positive(name: str, value: object, high: int = _MAX_CHANNELS) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r:.80}")
    if value > high:
        raise ValueError(f"{name} must be at most {high}, got {value:,}")


def _check_index(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not -_MAX_LAYER <= value < _MAX_LAYER:
        raise ValueError(f"{name} must be an integer index of an encoder output, got {value!r:.80}")


def _check_sizes(name: str, values: object, count: int | None = None, high: int = _MAX_CHANNELS) -> None:
    if not isinstance(values, tuple | list) or not values or (count is not None and len(values) != count):
        raise ValueError(
            f"{name} must be a list of {count or 'one or more'} positive integers, got {values!r:.80}"
        )
    if len(values) > 16:
        raise ValueError(f"{name} must have at most 16 entries, got {len(values):,}")
    for value in values:
        _check_positive(f"every entry of {name}", value, high)


def _check_layers(layers: object) -> None:
    if layers is None:
        return
    if not isinstance(layers, tuple | list) or len(layers) != 4:
        raise ValueError(f"layers must name exactly 4 encoder outputs (or be None), got {layers!r}")
    for layer in layers:
        _check_index("every entry of layers", layer)


@dataclass(frozen=True)
class HeadSettings(Settings):
    """Base of the head settings: `Settings` gives the JSON round trip (`to_dict`, `from_dict`).

    Attributes:
        name: Registry name of the head.
        task: ``"segmentation"`` (logits per pixel) or ``"multilabel"`` (logits per image).
    """

    name: ClassVar[str]
    task: ClassVar[str] = "segmentation"


@dataclass(frozen=True)
class LinearSettings(HeadSettings):
    """One transposed convolution from one encoder output to class logits (the paper's head).

    Attributes:
        upsampling: Kernel size and stride; None means the stride of the selected output, which
            gives logits at input resolution (16 for Prithvi, 8 for Clay, 32 for the ResNet).
        layer: Index of the encoder output to decode; negative counts from the end.
    """

    name: ClassVar[str] = "linear"
    upsampling: int | None = None
    layer: int = -1

    def __post_init__(self) -> None:
        if self.upsampling is not None:
            _check_positive("upsampling", self.upsampling, _MAX_POOL)
        _check_index("layer", self.layer)


@dataclass(frozen=True)
class FCNSettings(HeadSettings):
    """Fully convolutional decoder: each step doubles the resolution of one encoder output.

    Attributes:
        channels: Width of every step.
        num_convs: Number of steps (each x2 up-sampling).
        layer: Index of the encoder output to decode; negative counts from the end.
    """

    name: ClassVar[str] = "fcn"
    channels: int = 512
    num_convs: int = 4
    layer: int = -1

    def __post_init__(self) -> None:
        _check_positive("channels", self.channels)
        _check_positive("num_convs", self.num_convs, _MAX_STEPS)
        _check_index("layer", self.layer)


@dataclass(frozen=True)
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
    channels: int = 256
    pool_scales: tuple[int, ...] = (1, 2, 3, 6)
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _check_positive("channels", self.channels)
        _check_sizes("pool_scales", self.pool_scales, high=_MAX_POOL)
        _check_layers(self.layers)


@dataclass(frozen=True)
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
    channels: tuple[int, ...] = (512, 256, 128, 64)
    layers: tuple[int, ...] | None = None
    final_upsample: bool = True

    def __post_init__(self) -> None:
        _check_sizes("channels", self.channels, count=4)
        _check_layers(self.layers)
        if not isinstance(self.final_upsample, bool):
            raise ValueError(f"final_upsample must be true or false, got {self.final_upsample!r}")


@dataclass(frozen=True)
class ClassificationSettings(HeadSettings):
    """Multi-label classification: average of one encoder output over space, then a Linear layer.

    Attributes:
        layer: Index of the encoder output to pool; negative counts from the end.
    """

    name: ClassVar[str] = "classification"
    task: ClassVar[str] = "multilabel"
    layer: int = -1

    def __post_init__(self) -> None:
        _check_index("layer", self.layer)
