"""geoadapters: small task adapters for geospatial foundation models.

Importing the package is cheap: torch, rasterio and the Hub client load when a function that needs them
is first used.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from geoadapters.catalog import get_base, list_models, register_base
from geoadapters.default import DEFAULT_ADAPTER, DEFAULT_BASE
from geoadapters.errors import GeoAdaptersError, needs_torch
from geoadapters.specs import InputSpec
from geoadapters.version import __version__

if TYPE_CHECKING:
    from geoadapters.adapter_set import AdapterSet
    from geoadapters.backbone import create_backbone
    from geoadapters.convert.terratorch import from_terratorch
    from geoadapters.factory import create, load, push
    from geoadapters.geomodel import GeoModel
    from geoadapters.inference.array import predict_array
    from geoadapters.inference.predict import predict_raster
    from geoadapters.methods.adapt import add_adapter

__all__ = [
    "DEFAULT_ADAPTER",
    "DEFAULT_BASE",
    "AdapterSet",
    "GeoAdaptersError",
    "GeoModel",
    "InputSpec",
    "__version__",
    "add_adapter",
    "create",
    "create_backbone",
    "from_terratorch",
    "get_base",
    "list_models",
    "load",
    "predict_array",
    "predict_raster",
    "push",
    "register_base",
]

# Public names resolved on first access; all but predict_raster and predict_array need torch.
_LAZY = {
    "AdapterSet": "geoadapters.adapter_set",
    "GeoModel": "geoadapters.geomodel",
    "add_adapter": "geoadapters.methods.adapt",
    "create": "geoadapters.factory",
    "create_backbone": "geoadapters.backbone",
    "from_terratorch": "geoadapters.convert.terratorch",
    "load": "geoadapters.factory",
    "predict_array": "geoadapters.inference.array",
    "predict_raster": "geoadapters.inference.predict",
    "push": "geoadapters.factory",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        with needs_torch(f"geoadapters.{name} (PyTorch)"):
            value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'geoadapters' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
