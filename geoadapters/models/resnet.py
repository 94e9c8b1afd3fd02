"""Convolutional backbone for the DeCUR weights: a timm ResNet returning its stage feature maps.

DeCUR (Wang et al. 2023, arXiv 2309.05300) pretrained a ResNet-50 on 13 Sentinel-2 L1C bands
(SSL4EO-S12); torchgeo hosts the weights with timm's parameter names and no classifier.
"""

from collections.abc import Mapping, Sequence

import timm
from torch import Tensor, nn

from geoadapters.errors import InputShapeError
from geoadapters.models.checkpoint import map_band_weights
from geoadapters.specs import ResNetArch

__all__ = ["ResNetEncoder", "convert_resnet_checkpoint"]

# Modules whose outputs are timm's feature_info entries 0 (stem) to 4 (last stage).
_STAGES = ("act1", "layer1", "layer2", "layer3", "layer4")


class ResNetEncoder(nn.Module):
    """Stem and four stages of a timm ResNet; `forward_features` returns the selected stage outputs.

    Args:
        arch: Which timm ResNet and which stages to return (0 = stem at 1/2, 1..4 = 1/4 .. 1/32).
        in_chans: Number of input bands.
    """

    def __init__(self, arch: ResNetArch, in_chans: int) -> None:
        super().__init__()
        net = timm.create_model(
            arch.timm_name, pretrained=False, in_chans=in_chans, num_classes=0, drop_path_rate=arch.drop_path
        )
        self.arch = arch
        self.in_chans = in_chans
        self.feature_kind = "maps"
        self.input_multiple = 32
        self.conv1, self.bn1, self.act1, self.maxpool = net.conv1, net.bn1, net.act1, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        channels = {info["module"]: info["num_chs"] for info in net.feature_info}
        self.out_channels = [channels[_STAGES[i]] for i in arch.out_indices]
        self.reductions = [2 ** (i + 1) for i in arch.out_indices]

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


def convert_resnet_checkpoint(
    state: Mapping[str, Tensor],
    model: ResNetEncoder,
    pretrained_bands: Sequence[str],
    bands: Sequence[str],
) -> dict[str, Tensor]:
    """Drop the classifier of a timm-named ResNet checkpoint and map the first convolution's bands."""
    out = {key: value for key, value in state.items() if not key.startswith("fc.")}
    if "conv1.weight" in out:
        out["conv1.weight"] = map_band_weights(
            out["conv1.weight"], model.conv1.weight.detach(), pretrained_bands, bands
        )
    return out
