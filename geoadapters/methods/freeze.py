"""The two methods that only choose what trains: linear probing (the encoder frozen) and full fine-tuning."""

from geoadapters.methods.batched import Segment
from geoadapters.methods.method import Method, owned_state
from geoadapters.methods.settings import FullSettings, LinearProbeSettings
from geoadapters.models.encoder import Encoder

__all__ = ["FULL", "LINEAR_PROBE", "freeze", "unfreeze"]


def freeze(encoder: Encoder, settings: LinearProbeSettings) -> Encoder:
    """Freeze every encoder parameter: only the head trains."""
    encoder.requires_grad_(False)
    return encoder


def unfreeze(encoder: Encoder, settings: FullSettings) -> Encoder:
    """Let every encoder parameter train."""
    encoder.requires_grad_(True)
    return encoder


LINEAR_PROBE = Method(apply=freeze, segment=lambda encoder: Segment(), **owned_state(lambda name: False))
FULL = Method(apply=unfreeze, **owned_state(lambda name: True))
