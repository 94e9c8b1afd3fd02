"""Data module of GEO-Bench m-SA-crop-type."""

from training.datamodules.base import GeoDataModule
from training.datasets.m_sa_crop_type import MSACropType

__all__ = ["MSACropTypeDataModule"]


class MSACropTypeDataModule(GeoDataModule):
    """`MSACropType` splits as data loaders (see `GeoDataModule` for the arguments)."""

    dataset_class = MSACropType
