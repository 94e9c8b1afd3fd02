"""Data module of GEO-Bench m-cashew-plantation."""

from training.datamodules.base import GeoDataModule
from training.datasets.m_cashew_plantation import MCashewPlantation

__all__ = ["MCashewPlantationDataModule"]


class MCashewPlantationDataModule(GeoDataModule):
    """`MCashewPlantation` splits as data loaders (see `GeoDataModule` for the arguments)."""

    dataset_class = MCashewPlantation
