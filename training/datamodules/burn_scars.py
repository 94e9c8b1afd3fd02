"""Data module of HLS Burn Scars."""

from training.datamodules.base import GeoDataModule
from training.datasets.burn_scars import BurnScars

__all__ = ["BurnScarsDataModule"]


class BurnScarsDataModule(GeoDataModule):
    """`BurnScars` splits as data loaders (see `GeoDataModule` for the arguments)."""

    dataset_class = BurnScars
