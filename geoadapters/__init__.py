"""geoadapters: small task adapters for geospatial foundation models.

Importing the package is cheap: torch, rasterio and the Hub client load when a function that needs them
is first used.
"""

from importlib import import_module
from typing import Any

from geoadapters.catalog import get_base, list_models, register_base
from geoadapters.errors import GeoAdaptersError

__version__ = "0.1.0"

__all__ = ["GeoAdaptersError", "__version__", "create_backbone", "get_base", "list_models", "register_base"]

# Public names whose modules import torch: resolved on first access.
_LAZY = {
    "create_backbone": "geoadapters.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geoadapters' has no attribute {name!r}")
