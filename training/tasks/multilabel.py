"""Multi-label classification of whole images (reBEN with ``label: classification``).

Binary cross-entropy per class; macro F1 at threshold 0.5 and macro mean average precision
(torchmetrics), each x100.
"""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MultilabelAveragePrecision, MultilabelF1Score

from training.tasks.base import GeoTask

__all__ = ["MultiLabelTask"]


class MultiLabelTask(GeoTask):
    """Classes per image with the ``classification`` head; see `GeoTask` for the arguments."""

    def configure_metrics(self) -> None:
        """One metric collection for validation and one per test set."""
        classes = len(self.model.classes)
        self.metrics = nn.ModuleDict(
            {
                split: MetricCollection(
                    {
                        "F1": MultilabelF1Score(classes, average="macro"),
                        "mAP": MultilabelAveragePrecision(classes, average="macro"),
                    }
                )
                for split in ("val", *self.test_names)
            }
        )

    def target(self, batch: Mapping[str, Any]) -> Tensor:
        """The multi-hot labels."""
        label: Tensor = batch["label"]
        return label

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Binary cross-entropy per class."""
        return nn.functional.binary_cross_entropy_with_logits(logits, target)

    def update_metrics(self, split: str, logits: Tensor, target: Tensor) -> None:
        """Add the probabilities of a batch."""
        self.split_metrics(split).update(logits.sigmoid(), target.long())

    def compute_metrics(self, split: str) -> dict[str, Any]:
        """``F1`` and ``mAP``, x100."""
        metrics = self.split_metrics(split)
        values = metrics.compute()
        metrics.reset()
        return {name: self.percent(value) for name, value in values.items()}

    def predict_output(self, logits: Tensor) -> Tensor:
        """Label probabilities (B, classes)."""
        return logits.sigmoid()
