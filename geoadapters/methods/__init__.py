"""The paper's ways to adapt a frozen encoder, behind one entry point: `add_adapter`.

``lora`` (PEFT), ``vpt`` (deep prompts), ``vit_adapter`` (Prithvi only), ``linear_probe`` (frozen
encoder, only the head trains) and ``full`` (everything trains). Each method's settings default to the
paper's (arXiv 2504.17397, section 3), and applying one leaves exactly the method's parameters
trainable. A method is one `register_method` call (`geoadapters.methods.registry`). The settings
import without torch; `add_adapter` and `get_method` load the method's code on first use.
"""

from importlib import import_module
from typing import Any

from geoadapters.methods.registry import get_method as get_method
from geoadapters.methods.registry import list_methods as list_methods
from geoadapters.methods.registry import method_settings as method_settings
from geoadapters.methods.registry import register_method as register_method
from geoadapters.methods.settings import FullSettings as FullSettings
from geoadapters.methods.settings import LinearProbeSettings as LinearProbeSettings
from geoadapters.methods.settings import LoraSettings as LoraSettings
from geoadapters.methods.settings import MethodSettings as MethodSettings
from geoadapters.methods.settings import ViTAdapterSettings as ViTAdapterSettings
from geoadapters.methods.settings import VptSettings as VptSettings

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
    "register_method",
]

# Public names whose modules import torch: resolved on first access.
_LAZY = {"add_adapter": "geoadapters.methods.adapt"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geoadapters.methods' has no attribute {name!r}")
