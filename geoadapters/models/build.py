"""`create_backbone`: catalog name + overrides -> encoder module, with official weights when asked."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from geoadapters.bands import canonical_bands
from geoadapters.catalog import get_base
from geoadapters.models.checkpoint import load_strict, read_state_dict
from geoadapters.models.clay import ClayEncoder
from geoadapters.models.encoder import Encoder
from geoadapters.models.prithvi import PrithviViT
from geoadapters.models.resnet import ResNetEncoder
from geoadapters.specs import BaseSpec

__all__ = ["create_backbone"]

# The encoder class of each architecture family.
_ENCODERS: dict[str, Callable[[BaseSpec], Encoder]] = {
    "prithvi": PrithviViT,
    "clay": ClayEncoder,
    "resnet": ResNetEncoder,
}


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
    base = get_base(name)
    spec = base.with_overrides(**overrides)
    encoder = _ENCODERS[spec.family]
    if checkpoint is None and not pretrained:
        return encoder(spec)
    if checkpoint is not None:
        path = Path(checkpoint)
    else:
        from geoadapters.hub.client import download

        path = download(spec.weights, cache_dir=cache_dir)
    # Every weight comes from the file: the module is built on the meta device (no memory, no random
    # init) and takes the file's tensors as they are, memory-mapped. Bands other than the pretrained
    # ones need the fresh init of the input layer, so that case is built for real.
    same_bands = canonical_bands(spec.input.bands) == canonical_bands(base.input.bands)
    if same_bands:
        with torch.device("meta"):
            model = encoder(spec)
    else:
        model = encoder(spec)
    state = model.convert_checkpoint(read_state_dict(path), base.input.bands)
    load_strict(model, state, f"checkpoint {path}", assign=same_bands)
    return model
