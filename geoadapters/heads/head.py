"""`Head`: the neck and decoder of one task, from an encoder's outputs to logits."""

import torch.nn.functional as F
from torch import Tensor, nn

from geoadapters.heads.necks import Neck
from geoadapters.heads.settings import HeadSettings

__all__ = ["Head"]


class Head(nn.Module):
    """Turns an encoder's outputs into logits: (B, C, H, W) for segmentation, (B, C) for multi-label.

    Segmentation logits are resized bilinearly to the input size when the decoder's output differs
    (14 px patches, the U-Net's half resolution, the FCN's up-sampling), as TerraTorch's ``rescale``.

    Args:
        settings: The head's settings; ``settings.name`` is the head's registry name.
        neck: Selects and reshapes encoder outputs into feature maps.
        decoder: Feature maps -> logits.
        num_classes: Number of classes (segmentation) or labels (multi-label).

    Attributes:
        task: ``"segmentation"`` or ``"multilabel"``.
    """

    def __init__(self, settings: HeadSettings, neck: Neck, decoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.settings = settings
        self.task = settings.task
        self.num_classes = num_classes
        self.neck = neck
        self.decoder = decoder

    @property
    def name(self) -> str:
        """Registry name of the head (``"linear"``, ``"upernet"``, ...)."""
        return self.settings.name

    def forward(self, features: list[Tensor], image_size: tuple[int, int]) -> Tensor:
        """Logits for the image the encoder saw.

        Args:
            features: Every output of the encoder's ``forward_features``.
            image_size: (H, W) of the encoder input.
        """
        logits: Tensor = self.decoder(self.neck(features, image_size))
        size = tuple(image_size)
        if self.task == "segmentation" and tuple(logits.shape[2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits
