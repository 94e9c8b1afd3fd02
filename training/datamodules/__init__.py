"""Lightning data modules of the paper's datasets, one per dataset (`DATAMODULES` by name)."""

from training.datamodules.base import DatasetInfo, GeoDataModule
from training.datamodules.burn_scars import BurnScarsDataModule
from training.datamodules.m_cashew_plantation import MCashewPlantationDataModule
from training.datamodules.m_sa_crop_type import MSACropTypeDataModule
from training.datamodules.reben import ReBENDataModule
from training.datamodules.sen1floods11 import Sen1Floods11DataModule

__all__ = [
    "DATAMODULES",
    "BurnScarsDataModule",
    "DatasetInfo",
    "GeoDataModule",
    "MCashewPlantationDataModule",
    "MSACropTypeDataModule",
    "ReBENDataModule",
    "Sen1Floods11DataModule",
]

DATAMODULES: dict[str, type[GeoDataModule]] = {
    dm.dataset_class.name: dm
    for dm in (
        BurnScarsDataModule,
        Sen1Floods11DataModule,
        MCashewPlantationDataModule,
        MSACropTypeDataModule,
        ReBENDataModule,
    )
}
