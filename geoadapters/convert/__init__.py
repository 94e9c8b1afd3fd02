"""Models from other tools as geoadapters models and adapters.

`from_terratorch(config, checkpoint)` runs a TerraTorch fine-tune (YAML + Lightning checkpoint) as a
`GeoModel`; `to_lora(model, base_checkpoint, rank)` shrinks a full fine-tune into a LoRA adapter on the
official base (a truncated SVD of its difference from the base). Both import torch on first use.
"""

from importlib import import_module
from typing import Any

__all__ = ["from_terratorch", "read_terratorch", "to_lora"]

_LAZY = {
    "from_terratorch": "geoadapters.convert.terratorch",
    "read_terratorch": "geoadapters.convert.terratorch",
    "to_lora": "geoadapters.convert.lowrank",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geoadapters.convert' has no attribute {name!r}")
