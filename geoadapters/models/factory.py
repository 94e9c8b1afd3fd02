"""`create_backbone`: catalog name + overrides -> encoder module, with official weights when asked.

Every encoder (and every adapter wrapping one) exposes the same feature contract, which necks and
heads rely on:

- ``forward_features(x, **metadata) -> list[Tensor]``;
- ``feature_kind``: ``"tokens"`` (ViTs: tensors (B, 1 + T * h * w, D), class token first) or
  ``"maps"`` (tensors (B, C, H / r, W / r));
- ``out_channels`` and ``reductions``: channels and stride in pixels of each output;
- ``token_frames``: T, the frames of tokens (token encoders only);
- ``input_multiple``: input height and width must be multiples of it;
- ``spec``: the `BaseSpec` the encoder was built from.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from geoadapters.catalog import get_base
from geoadapters.hub import download
from geoadapters.models.checkpoint import load_strict, read_state_dict
from geoadapters.models.clay import ClayEncoder, convert_clay_checkpoint
from geoadapters.models.prithvi import PrithviViT, convert_prithvi_checkpoint
from geoadapters.models.resnet import ResNetEncoder, convert_resnet_checkpoint
from geoadapters.specs import BaseSpec, ClayArch, PrithviArch, ResNetArch

__all__ = ["Backbone", "build_backbone", "create_backbone"]

Backbone = PrithviViT | ClayEncoder | ResNetEncoder

Converter = Callable[[Mapping[str, Tensor], Any, Sequence[str], Sequence[str]], dict[str, Tensor]]

# How each official file layout (BaseSpec.checkpoint_format) maps onto our parameter names.
_CONVERTERS: dict[str, Converter] = {
    "prithvi": convert_prithvi_checkpoint,
    "clay-lightning": convert_clay_checkpoint,
    "timm": convert_resnet_checkpoint,
}


def build_backbone(spec: BaseSpec) -> Backbone:
    """A randomly initialised encoder for `spec`, carrying it as ``.spec``."""
    model: Backbone
    if isinstance(spec.arch, PrithviArch):
        model = PrithviViT(spec.arch, len(spec.input.bands))
    elif isinstance(spec.arch, ClayArch):
        model = ClayEncoder(spec.arch, spec.input.bands)
    elif isinstance(spec.arch, ResNetArch):
        model = ResNetEncoder(spec.arch, len(spec.input.bands))
    else:
        raise TypeError(f"no encoder for architecture {type(spec.arch).__name__}")
    model.spec = spec
    return model


def create_backbone(
    name: str,
    checkpoint: str | Path | None = None,
    *,
    pretrained: bool = True,
    cache_dir: str | Path | None = None,
    **overrides: Any,
) -> Backbone:
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
        (ResNet), and ``.spec`` is the catalog entry with the overrides applied.

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
    model = build_backbone(spec)
    if checkpoint is not None or pretrained:
        path = Path(checkpoint) if checkpoint is not None else download(spec.weights, cache_dir=cache_dir)
        state = read_state_dict(path)
        state = _CONVERTERS[spec.checkpoint_format](state, model, base.input.bands, spec.input.bands)
        load_strict(model, state, f"checkpoint {path}")
    return model
