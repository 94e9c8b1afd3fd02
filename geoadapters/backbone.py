"""`create_backbone`: the encoder of a catalog base model, with its official weights from a file or the Hub.

The weights file is a local copy, or the catalog's pinned Hub file (cached by huggingface_hub, usable
offline once cached); `geoadapters.models.build` builds the encoder and loads the file key for key.
"""

from pathlib import Path
from typing import Any

from geoadapters.catalog import get_base
from geoadapters.models.build import build_encoder
from geoadapters.models.encoder import Encoder

__all__ = ["create_backbone"]


def create_backbone(
    name: str,
    checkpoint: str | Path | None = None,
    *,
    pretrained: bool = True,
    cache_dir: str | Path | None = None,
    **overrides: Any,
) -> Encoder:
    """Build the encoder of a catalog base model, with its official weights.

    Args:
        name: Catalog name, e.g. ``"prithvi-300"`` (see `geoadapters.list_models`).
        checkpoint: Local copy of the official checkpoint file; without it the file comes from the
            Hub (cached by huggingface_hub, usable offline once cached).
        pretrained: Load the official weights; False gives random weights and downloads nothing.
        cache_dir: Hugging Face cache folder to use instead of the default.
        **overrides: ``bands`` (names, mapped onto the pretrained patch weights), ``revision`` of the
            weights, or any architecture field (``num_frames``, ``img_size``, ``depth``, ...).

    Returns:
        The encoder; ``forward_features(x)`` returns one feature tensor per block (ViTs) or stage
        (ResNet), as ``.features`` describes them, and ``.spec`` is the catalog entry with the
        overrides applied.

    Raises:
        UnknownNameError: `name` is not in the catalog.
        WeightsNotFoundError: The checkpoint is not on disk, not cached, and cannot be downloaded.
        CheckpointError: The file is unreadable or does not fit the architecture.

    Example:
        >>> encoder = create_backbone("prithvi-300", pretrained=False, depth=2)
        >>> len(encoder.forward_features(torch.zeros(1, 6, 224, 224)))
        2
    """
    spec = get_base(name).with_overrides(**overrides)
    path = None if checkpoint is None else Path(checkpoint)
    if path is None and pretrained:
        from geoadapters.hub.transport import download

        hint = "give a local copy of the file with `checkpoint`"
        path = download(spec.weights, cache_dir=cache_dir, hint=hint)
    return build_encoder(spec, path)
