"""geoadapters: small task adapters for geospatial foundation models.

Importing the package is cheap: torch, rasterio and the Hub client load when a function that needs them
is first used.
"""

from importlib import import_module
from typing import Any

from geoadapters.catalog import get_base, list_models, register_base
from geoadapters.errors import GeoAdaptersError

__version__ = "0.1.0"

__all__ = [
    "GeoAdaptersError",
    "GeoModel",
    "__version__",
    "add_adapter",
    "create",
    "create_backbone",
    "get_base",
    "list_models",
    "load",
    "register_base",
]

# Public names whose modules import torch: resolved on first access.
_LAZY = {
    "GeoModel": "geoadapters.model",
    "add_adapter": "geoadapters.adapters",
    "create": "geoadapters.factory",
    "create_backbone": "geoadapters.models",
    "load": "geoadapters.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'geoadapters' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
