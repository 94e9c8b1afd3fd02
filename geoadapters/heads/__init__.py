"""Task heads: necks and decoders from an encoder's outputs to segmentation or multi-label logits.

`build_head(name, encoder, num_classes, **settings)` builds the heads of Marti-Escofet et al. 2025
(arXiv 2504.17397) as TerraTorch assembles them: ``linear`` (the head of every PEFT run), ``fcn``,
``upernet`` and ``unet`` (its decoder ablation), and ``classification`` (multi-label, beyond the paper).
A head is one `register_head` call (`geoadapters.heads.registry`); the registry and settings import
without torch; `Head` and `build_head` load it on first use.
"""

from importlib import import_module
from typing import Any

from geoadapters.heads.registry import head_settings as head_settings
from geoadapters.heads.registry import list_heads as list_heads
from geoadapters.heads.registry import register_head as register_head
from geoadapters.heads.settings import ClassificationSettings as ClassificationSettings
from geoadapters.heads.settings import FCNSettings as FCNSettings
from geoadapters.heads.settings import HeadSettings as HeadSettings
from geoadapters.heads.settings import LinearSettings as LinearSettings
from geoadapters.heads.settings import UNetSettings as UNetSettings
from geoadapters.heads.settings import UPerNetSettings as UPerNetSettings

__all__ = [
    "ClassificationSettings",
    "FCNSettings",
    "Head",
    "HeadSettings",
    "LinearSettings",
    "UNetSettings",
    "UPerNetSettings",
    "build_head",
    "head_settings",
    "list_heads",
    "register_head",
]

# Public names whose modules import torch: resolved on first access.
_LAZY = {
    "Head": "geoadapters.heads.head",
    "build_head": "geoadapters.heads.build",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geoadapters.heads' has no attribute {name!r}")
