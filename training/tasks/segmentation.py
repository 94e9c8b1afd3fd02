"""Semantic segmentation as the paper trains and scores it (arXiv 2504.17397, section 4).

Cross-entropy with the ignored label -1; torchmetrics' macro mIoU over all classes with ignore
index -1 (the paper's ``test/mIoU``), per-class IoU and pixel accuracy, each x100.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from training.datasets.base import IGNORE_INDEX
from training.tasks.base import GeoTask

__all__ = ["SegmentationTask", "segmentation_metrics"]


def segmentation_metrics(num_classes: int) -> MetricCollection:
    """The macro mIoU, IoU per class and overall pixel accuracy, ignoring `IGNORE_INDEX`."""
    return MetricCollection(
        {
            "mIoU": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=IGNORE_INDEX),
            "IoU": MulticlassJaccardIndex(num_classes, average="none", ignore_index=IGNORE_INDEX),
            "accuracy": MulticlassAccuracy(num_classes, average="micro", ignore_index=IGNORE_INDEX),
        }
    )


class SegmentationTask(GeoTask):
    """Per-pixel classes; see `GeoTask` for the arguments."""

    def configure_metrics(self) -> None:
        """One metric collection for validation and one per test set."""
        classes = len(self.model.classes)
        self.metrics = nn.ModuleDict(
            {split: segmentation_metrics(classes) for split in ("val", *self.test_names)}
        )

    def target(self, batch: Mapping[str, Any]) -> Tensor:
        """The mask."""
        mask: Tensor = batch["mask"]
        return mask

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy, ignoring `IGNORE_INDEX`."""
        return nn.functional.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)

    def update_metrics(self, split: str, logits: Tensor, target: Tensor) -> None:
        """Add the predicted classes of a batch."""
        self.split_metrics(split).update(logits.argmax(1), target)

    def compute_metrics(self, split: str) -> dict[str, Any]:
        """``mIoU``, ``accuracy`` and ``IoU`` (class name -> value), x100."""
        metrics = self.split_metrics(split)
        values = metrics.compute()
        metrics.reset()
        iou = values["IoU"]
        return {
            "mIoU": self.percent(values["mIoU"]),
            "accuracy": self.percent(values["accuracy"]),
            "IoU": {name: self.percent(v) for name, v in zip(self.model.classes, iou, strict=True)},
        }

    def predict_output(self, logits: Tensor) -> Tensor:
        """Class indices (B, H, W)."""
        return torch.argmax(logits, 1)
