"""``data check``: read every sample of every split once and describe what a model would get.

For each split: the number of samples, the shapes and dtypes of the preprocessed batches (normalised,
reBEN padded), the label histogram (pixels per class value, -1 = ignored) and the normalised value
range per band. Unreadable samples do not stop the check; they are listed by path.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.datasets import get_dataset
from training.datasets.metadata import MetadataKind, collate
from training.errors import DatasetError
from training.transforms import preprocess

__all__ = ["DataReport", "SplitReport", "check_data", "format_report"]

Progress = Callable[[Iterable[int], str], Iterable[int]]


@dataclass
class SplitReport:
    """What one split holds.

    Attributes:
        samples: Samples in the split list.
        read: Samples read without error.
        image_shapes: Distinct (C, H, W) of the preprocessed images.
        image_dtype: Their dtype.
        mask_shapes: Distinct (H, W) of the preprocessed masks.
        mask_dtype: Their dtype.
        labels: Pixels per mask value (``-1`` ignored), before padding.
        normalised_min: Per band, the smallest normalised value.
        normalised_max: Per band, the largest normalised value.
        normalised_mean: Per band, the mean normalised value.
        metadata: The metadata entries of the samples.
    """

    samples: int
    read: int = 0
    image_shapes: list[list[int]] = field(default_factory=list)
    image_dtype: str = ""
    mask_shapes: list[list[int]] = field(default_factory=list)
    mask_dtype: str = ""
    labels: dict[int, int] = field(default_factory=dict)
    normalised_min: list[float] = field(default_factory=list)
    normalised_max: list[float] = field(default_factory=list)
    normalised_mean: list[float] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)


@dataclass
class DataReport:
    """The result of a data check; `errors` lists every sample that could not be read.

    Attributes:
        dataset: Dataset name.
        root: The data root.
        bands: Bands read, in order.
        classes: Class names, by mask value.
        splits: One report per split.
        errors: One line per unreadable sample, naming the file.
    """

    dataset: str
    root: str
    bands: list[str]
    classes: list[str]
    splits: dict[str, SplitReport]
    errors: list[str]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (label keys become strings)."""
        out = asdict(self)
        for split in out["splits"].values():
            split["labels"] = {str(k): v for k, v in split["labels"].items()}
        return out


def _no_progress(items: Iterable[int], desc: str) -> Iterable[int]:
    return items


def check_data(
    name: str,
    root: Path,
    *,
    bands: tuple[str, ...] | None = None,
    metadata: MetadataKind = "no_metadata",
    splits: Path | None = None,
    progress: Progress = _no_progress,
) -> DataReport:
    """Read every sample of every split of a dataset once.

    Args:
        name: Dataset name.
        root: Its data root.
        bands: Bands to read; all of the dataset's when None.
        metadata: Which model's metadata to derive (so that deriving it is checked too).
        splits: Folder of split lists instead of the shipped ones.
        progress: Wraps the sample indices of each split, e.g. in a progress bar.

    Raises:
        DatasetError: The root or the split lists are unusable (sample errors are collected instead).
    """
    cls = get_dataset(name)
    datasets = {
        split: cls(root, split, bands=bands, metadata=metadata, splits=splits) for split in cls.split_files
    }
    report = DataReport(
        dataset=name,
        root=str(root),
        bands=list(next(iter(datasets.values())).bands),
        classes=list(cls.classes),
        splits={},
        errors=[],
    )
    for split, dataset in datasets.items():
        summary = SplitReport(samples=len(dataset))
        labels: Counter[int] = Counter()
        low, high, total, pixels = None, None, None, 0
        for index in progress(range(len(dataset)), f"{name} {split}"):
            try:
                sample = dataset[index]
            except DatasetError as err:
                report.errors.append(f"{err} (sample {dataset.ids[index]} of {split})")
                continue
            if "mask" in sample:
                values, counts = np.unique(sample["mask"].numpy(), return_counts=True)
                labels.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
            batch = preprocess(collate([sample]), dataset.input_spec, cls.pad_to)
            image = batch["image"][0].to(torch.float64)
            flat = image.flatten(1)
            low = flat.amin(1) if low is None else torch.minimum(low, flat.amin(1))
            high = flat.amax(1) if high is None else torch.maximum(high, flat.amax(1))
            total = flat.sum(1) if total is None else total + flat.sum(1)
            pixels += flat.shape[1]
            _add_shape(summary.image_shapes, list(image.shape))
            summary.image_dtype = str(batch["image"].dtype).removeprefix("torch.")
            if "mask" in batch:
                _add_shape(summary.mask_shapes, list(batch["mask"].shape[1:]))
                summary.mask_dtype = str(batch["mask"].dtype).removeprefix("torch.")
            summary.metadata = sorted(k for k in sample if k not in ("image", "mask", "id"))
            summary.read += 1
        summary.labels = dict(sorted(labels.items()))
        if low is not None and high is not None and total is not None:
            summary.normalised_min = [round(v, 4) for v in low.tolist()]
            summary.normalised_max = [round(v, 4) for v in high.tolist()]
            summary.normalised_mean = [round(v, 4) for v in (total / pixels).tolist()]
        report.splits[split] = summary
    return report


def _add_shape(shapes: list[list[int]], shape: list[int]) -> None:
    if shape not in shapes:
        shapes.append(shape)


def format_report(report: DataReport) -> str:
    """A few human-readable lines per split."""
    lines = [
        f"{report.dataset} at {report.root}",
        f"  bands ({len(report.bands)}): {', '.join(report.bands)}",
        f"  classes ({len(report.classes)}): " + ", ".join(f"{i} {c}" for i, c in enumerate(report.classes)),
    ]
    for split, s in report.splits.items():
        shapes = " ".join("x".join(map(str, shape)) for shape in s.image_shapes) or "-"
        masks = " ".join("x".join(map(str, shape)) for shape in s.mask_shapes) or "-"
        lines.append(f"  {split}: {s.samples} samples, {s.read} read")
        lines.append(f"    image {shapes} {s.image_dtype}, mask {masks} {s.mask_dtype}")
        lines.append("    labels (pixels): " + (", ".join(f"{k}: {v}" for k, v in s.labels.items()) or "-"))
        if s.normalised_min:
            lines.append(f"    normalised range [{min(s.normalised_min):.3f}, {max(s.normalised_max):.3f}]")
        if s.metadata:
            lines.append(f"    metadata: {', '.join(s.metadata)}")
    return "\n".join(lines)
