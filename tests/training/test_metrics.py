"""The tasks' metrics against a numpy confusion matrix on fixed tensors."""

import numpy as np
import pytest
import torch

from training.tasks.segmentation import segmentation_metrics


def numpy_scores(pred, target, classes):
    keep = target != -1
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (target[keep], pred[keep]), 1)
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = np.divide(tp, union, out=np.zeros(classes), where=union > 0)
    return iou.mean(), iou, tp.sum() / matrix.sum()


def test_segmentation_metrics_match_a_confusion_matrix():
    rng = np.random.default_rng(0)
    classes = 4
    target = rng.integers(-1, classes, (3, 16, 16))
    pred = np.where(
        rng.random((3, 16, 16)) < 0.6, np.maximum(target, 0), rng.integers(0, classes, (3, 16, 16))
    )
    metrics = segmentation_metrics(classes)
    for i in range(3):  # in batches, as a test loop feeds them
        metrics.update(torch.from_numpy(pred[i : i + 1]), torch.from_numpy(target[i : i + 1]))
    values = metrics.compute()
    miou, iou, accuracy = numpy_scores(pred.ravel(), target.ravel(), classes)
    assert values["mIoU"].item() == pytest.approx(miou, abs=1e-6)
    assert values["IoU"].numpy() == pytest.approx(iou, abs=1e-6)
    assert values["accuracy"].item() == pytest.approx(accuracy, abs=1e-6)
