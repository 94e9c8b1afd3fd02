"""Lightning tasks: a `GeoModel` trained and evaluated as the paper does (`TASKS` by head task)."""

from training.tasks.base import GeoTask
from training.tasks.multilabel import MultiLabelTask
from training.tasks.segmentation import SegmentationTask

__all__ = ["GeoTask", "MultiLabelTask", "SegmentationTask"]
