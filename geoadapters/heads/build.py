"""`build_head`: head name + encoder + classes -> `Head`, with the builder the head registered."""

from typing import Any

from geoadapters.heads.head import Head
from geoadapters.heads.registry import get_builder, head_settings
from geoadapters.models.encoder import Encoder

__all__ = ["build_head"]


def build_head(name: str, encoder: Encoder, num_classes: int, **settings: Any) -> Head:
    """Build a task head for an encoder.

    Args:
        name: Head name (see `list_heads`): ``"linear"``, ``"fcn"``, ``"upernet"``, ``"unet"`` or
            ``"classification"``.
        encoder: A module with the feature contract of `geoadapters.models.build` (``feature_kind``,
            ``out_channels``, ``reductions``, and ``token_frames`` for token encoders).
        num_classes: Number of classes (segmentation) or labels (multi-label classification).
        **settings: Settings of the head (see `head_settings`); absent ones take the paper's defaults.

    Returns:
        A `Head` whose ``forward(encoder.forward_features(x), x.shape[-2:])`` gives logits.

    Raises:
        UnknownNameError: No head of that name.
        TypeError: A setting the head does not have.
        ValueError: A setting out of range, or a head that does not fit the encoder's outputs.

    Example:
        >>> encoder = create_backbone("prithvi-300", pretrained=False, depth=4)
        >>> head = build_head("upernet", encoder, num_classes=2)
        >>> x = torch.zeros(2, 6, 64, 96)
        >>> head(encoder.forward_features(x), (64, 96)).shape
        torch.Size([2, 2, 64, 96])
    """
    config = head_settings(name, **settings)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    neck, decoder = get_builder(name)(encoder.features, config, num_classes)
    return Head(config, neck, decoder, num_classes)
