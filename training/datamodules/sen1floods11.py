"""Data module of Sen1Floods11 v1.1; its tests are the same-distribution test set and Bolivia."""

from training.datamodules.base import GeoDataModule
from training.datasets.sen1floods11 import Sen1Floods11

__all__ = ["Sen1Floods11DataModule"]


class Sen1Floods11DataModule(GeoDataModule):
    """`Sen1Floods11` splits as data loaders (see `GeoDataModule` for the arguments)."""

    dataset_class = Sen1Floods11
