"""Multi-label classification decoder, e.g. for the 19 BigEarthNet classes of reBEN.

TerraTorch's `ClassificationHead` with its defaults (no hidden layers, no dropout): a spatial average
of one feature map, then one Linear layer. For token encoders the map is the folded patch tokens, so
this is the mean of each frame's patch tokens (class token excluded). No extra normalisation: the
last output of the ViT encoders has their final LayerNorm applied already, and a linear probe on
pooled features is the usual baseline. The logits are meant for a sigmoid (``BCEWithLogitsLoss``).
"""

from torch import Tensor, nn

__all__ = ["ClassificationDecoder"]


class ClassificationDecoder(nn.Module):
    """Global average pool, then ``Linear(in_channels -> num_classes)``.

    Args:
        in_channels: Channels of the feature map.
        num_classes: Number of labels.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, maps: list[Tensor]) -> Tensor:
        """Logits (B, num_classes) of the last map (B, C, h, w)."""
        logits: Tensor = self.classifier(maps[-1].mean(dim=(2, 3)))
        return logits
