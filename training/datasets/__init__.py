"""The paper's five datasets, read in their published layouts (torch Datasets, no Lightning).

`DATASETS` maps the names used on the command line to the dataset classes; each class carries its
input contract (`GeoDataset.spec`), classes, splits and where to get the data.
"""

from geoadapters.errors import UnknownNameError
from training.datasets.base import IGNORE_INDEX, GeoDataset
from training.datasets.burn_scars import BurnScars
from training.datasets.m_cashew_plantation import MCashewPlantation
from training.datasets.m_sa_crop_type import MSACropType
from training.datasets.reben import ReBEN
from training.datasets.sen1floods11 import Sen1Floods11

__all__ = [
    "DATASETS",
    "IGNORE_INDEX",
    "BurnScars",
    "GeoDataset",
    "MCashewPlantation",
    "MSACropType",
    "ReBEN",
    "Sen1Floods11",
    "get_dataset",
]

DATASETS: dict[str, type[GeoDataset]] = {
    cls.name: cls for cls in (BurnScars, Sen1Floods11, MCashewPlantation, MSACropType, ReBEN)
}


def get_dataset(name: str) -> type[GeoDataset]:
    """The dataset class of a command-line name.

    Raises:
        UnknownNameError: No dataset of that name.
    """
    if name not in DATASETS:
        raise UnknownNameError(f"no dataset {name!r}; the datasets are {', '.join(DATASETS)}")
    return DATASETS[name]
