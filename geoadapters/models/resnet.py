"""Convolutional backbone for the DeCUR weights: a timm ResNet returning its stage feature maps.

DeCUR (Wang et al. 2023, arXiv 2309.05300) pretrained a ResNet-50 on 13 Sentinel-2 L1C bands
(SSL4EO-S12); torchgeo hosts the weights with timm's parameter names and no classifier.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from geoadapters.errors import InputShapeError
from geoadapters.models.checkpoint import map_band_weights
from geoadapters.models.encoder import Encoder, Features
from geoadapters.specs import BaseSpec, ResNetArch

__all__ = ["ResNetEncoder"]

# Modules whose outputs are timm's feature_info entries 0 (stem) to 4 (last stage).
_STAGES = ("act1", "layer1", "layer2", "layer3", "layer4")


class ResNetEncoder(Encoder):
    """Stem and four stages of a timm ResNet; `forward_features` returns the selected stage outputs.

    Args:
        spec: Catalog entry with a `ResNetArch`: which timm ResNet and which stages to return (0 = stem
            at 1/2, 1..4 = 1/4 .. 1/32); its input bands give the number of input channels.
    """

    def __init__(self, spec: BaseSpec) -> None:
        arch = spec.arch
        if not isinstance(arch, ResNetArch):
            raise TypeError(f"ResNetEncoder needs a ResNetArch, got {type(arch).__name__}")
        import timm  # here, not at the top: importing timm imports torchvision (seconds)
        from timm.models.resnet import ResNet

        in_chans = len(spec.input.bands)
        net = timm.create_model(
            arch.timm_name, pretrained=False, in_chans=in_chans, num_classes=0, drop_path_rate=arch.drop_path
        )
        if not isinstance(net, ResNet):
            raise TypeError(
                f"ResNetEncoder needs a timm ResNet, {arch.timm_name!r} is a {type(net).__name__}"
            )
        # timm builds these dicts with int and str values, which mypy infers as dict[str, object]
        feature_info: list[dict[str, Any]] = net.feature_info
        channels = {info["module"]: info["num_chs"] for info in feature_info}
        features = Features(
            "maps",
            tuple(channels[_STAGES[i]] for i in arch.out_indices),
            tuple(2 ** (i + 1) for i in arch.out_indices),
            input_multiple=arch.input_multiple,
        )
        super().__init__(spec, features)
        self.arch = arch
        self.in_chans = in_chans
        # by name: timm registers layer1-4 with add_module and types the stem loosely, so the attributes of a
        # ResNet have no usable static types
        self.conv1, self.bn1, self.act1, self.maxpool = map(
            net.get_submodule, ("conv1", "bn1", "act1", "maxpool")
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = map(net.get_submodule, _STAGES[1:])

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Feature maps (B, C_i, H / 2^(i+1), W / 2^(i+1)) of the stages in ``arch.out_indices``."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise InputShapeError(f"expected (B, {self.in_chans}, H, W), got shape {tuple(x.shape)}")
        stages = [self.act1(self.bn1(self.conv1(x)))]
        x = self.maxpool(stages[0])
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            stages.append(x)
        return [stages[i] for i in self.arch.out_indices]

    forward = forward_features

    def convert_checkpoint(
        self, state: Mapping[str, Tensor], pretrained_bands: Sequence[str]
    ) -> dict[str, Tensor]:
        """Drop the classifier of a timm-named ResNet checkpoint and map the first convolution's bands."""
        out = {key: value for key, value in state.items() if not key.startswith("fc.")}
        if "conv1.weight" in out:
            init = self.get_parameter("conv1.weight").detach()
            out["conv1.weight"] = map_band_weights(
                out["conv1.weight"], init, pretrained_bands, self.spec.input.bands
            )
        return out
