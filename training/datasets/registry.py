"""The registry of training datasets: a dataset is one module whose `GeoDataset` subclass registers itself.

`register_dataset(cls)` (at the end of the dataset's module, or as a class decorator) makes the name
``cls.name`` usable everywhere a dataset is named: ``--data.dataset NAME`` of the generic data module
(`training.datamodule.GeoDataModule`) and the data commands of ``python -m training``.
"""

from typing import TypeVar

from geoadapters._registry import Registry
from training.datasets.base import GeoDataset

__all__ = ["get_dataset", "list_datasets", "register_dataset"]

D = TypeVar("D", bound=type[GeoDataset])

_DATASETS: Registry[type[GeoDataset]] = Registry("dataset")


def register_dataset(cls: D) -> D:
    """Register a dataset class under its ``name`` and return it.

    Raises:
        ValueError: A dataset of that name is registered already.
    """
    _DATASETS.register(cls.name, cls)
    return cls


def get_dataset(name: str) -> type[GeoDataset]:
    """The dataset class of a name.

    Raises:
        UnknownNameError: No dataset of that name; the message suggests close names.
    """
    return _DATASETS.get(name)


def list_datasets() -> list[str]:
    """Names of the registered datasets, in registration order."""
    return _DATASETS.names()
