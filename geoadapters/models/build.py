"""`build_encoder`: a base spec (with overrides) -> the encoder of its family, with a checkpoint's weights."""

from pathlib import Path

import torch

from geoadapters.bands import canonical_bands
from geoadapters.catalog import get_base
from geoadapters.families import family_of
from geoadapters.models.checkpoint import load_strict, read_state_dict
from geoadapters.models.encoder import Encoder
from geoadapters.specs import BaseSpec

__all__ = ["build_encoder"]


def build_encoder(spec: BaseSpec, checkpoint: Path | None = None) -> Encoder:
    """The encoder of `spec`'s family; with `checkpoint`, every weight from that official file.

    Raises:
        CheckpointError: The file is unreadable or does not fit the architecture.
    """
    encoder = family_of(spec.arch).encoder_class()
    if checkpoint is None:
        return encoder(spec)
    pretrained_bands = get_base(spec.name).input.bands
    # Every weight comes from the file: the module is built on the meta device (no memory, no random
    # init) and takes the file's tensors as they are, memory-mapped. Bands other than the pretrained
    # ones need the fresh init of the input layer, so that case is built for real.
    same_bands = canonical_bands(spec.input.bands) == canonical_bands(pretrained_bands)
    if same_bands:
        with torch.device("meta"):
            model = encoder(spec)
    else:
        model = encoder(spec)
    state = model.convert_checkpoint(read_state_dict(checkpoint), pretrained_bands)
    load_strict(model, state, f"checkpoint {checkpoint}", assign=same_bands)
    return model
