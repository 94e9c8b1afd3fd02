"""The paper's five datasets, read in their published layouts (torch Datasets, no Lightning).

Each dataset is one module whose `GeoDataset` subclass carries its input contract (`GeoDataset.spec`),
classes, splits and where to get the data, and registers itself (`register_dataset`); the names are
those of the command line.
"""

from training.datasets import burn_scars, m_cashew_plantation, m_sa_crop_type, reben, sen1floods11
from training.datasets.base import IGNORE_INDEX, GeoDataset
from training.datasets.registry import get_dataset, list_datasets, register_dataset

__all__ = ["IGNORE_INDEX", "GeoDataset", "get_dataset", "list_datasets", "register_dataset"]

# The modules register their datasets when imported, in the paper's order.
BUILT_IN = (burn_scars, sen1floods11, m_cashew_plantation, m_sa_crop_type, reben)
