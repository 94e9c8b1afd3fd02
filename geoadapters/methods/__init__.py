"""The paper's ways to adapt a frozen encoder, behind one entry point: `add_adapter`.

``lora`` (PEFT), ``vpt`` (deep prompts), ``vit_adapter`` (Prithvi only), ``linear_probe`` (frozen
encoder, only the head trains) and ``full`` (everything trains). Each method's settings default to the
paper's (arXiv 2504.17397, section 3), and applying one leaves exactly the method's parameters
trainable. The settings import without torch; `add_adapter` and `get_method` load it on first use.
"""

from importlib import import_module
from typing import Any

from geoadapters.methods.settings import FullSettings as FullSettings
from geoadapters.methods.settings import LinearProbeSettings as LinearProbeSettings
from geoadapters.methods.settings import LoraSettings as LoraSettings
from geoadapters.methods.settings import MethodSettings as MethodSettings
from geoadapters.methods.settings import ViTAdapterSettings as ViTAdapterSettings
from geoadapters.methods.settings import VptSettings as VptSettings
from geoadapters.methods.settings import list_methods as list_methods
from geoadapters.methods.settings import method_settings as method_settings

__all__ = [
    "FullSettings",
    "LinearProbeSettings",
    "LoraSettings",
    "MethodSettings",
    "ViTAdapterSettings",
    "VptSettings",
    "add_adapter",
    "get_method",
    "list_methods",
    "method_settings",
]

# Public names whose modules import torch: resolved on first access.
_LAZY = {"add_adapter": "geoadapters.methods.adapt", "get_method": "geoadapters.methods.adapt"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geoadapters.methods' has no attribute {name!r}")
