"""``splits check``: are the split lists sound, complete in a data root, and free of spatial leaks?

Checks that every pair of splits is disjoint (except pairs a dataset declares as overlapping, such
as reBEN's OOD set inside its Austria and Ireland sets), that the shipped lists have the paper's
counts, and, given a data root, that every id resolves to its files. For datasets whose split is
meant to keep chip footprints apart (burn scars), it also reports chips of different splits whose
footprints overlap, from the files' transforms.
"""

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from rasterio.errors import RasterioError

from training.datasets import get_dataset
from training.datasets.base import GeoDataset
from training.errors import DatasetError

__all__ = ["SplitsReport", "check_splits"]


@dataclass
class SplitsReport:
    """The result of a splits check; it passes when `problems` is empty.

    Attributes:
        dataset: Dataset name.
        counts: Ids per split.
        published: The paper's count per split, where known.
        problems: One line per problem: shared ids, wrong counts, unresolved ids, overlaps.
    """

    dataset: str
    counts: dict[str, int]
    published: dict[str, int]
    problems: list[str] = field(default_factory=list)


def check_splits(name: str, *, root: Path | None = None, splits: Path | None = None) -> SplitsReport:
    """Check the split lists of a dataset (the shipped ones unless `splits` is given).

    Args:
        name: Dataset name.
        root: Data root to resolve every id in; without it only the lists are checked.
        splits: Folder of split lists instead of the shipped ones; counts are then not compared.

    Raises:
        DatasetError: The lists or the root are unusable.
    """
    cls = get_dataset(name)
    ids = cls.read_splits(root, splits)
    report = SplitsReport(name, {split: len(v) for split, v in ids.items()}, dict(cls.published_counts))
    for a, b in itertools.combinations(ids, 2):
        shared = sorted(set(ids[a]) & set(ids[b]))
        if shared and frozenset({a, b}) not in cls.overlapping_splits:
            report.problems.append(f"{a} and {b} share {len(shared)} ids, e.g. {', '.join(shared[:3])}")
    if splits is None:
        for split, count in cls.published_counts.items():
            if report.counts.get(split) != count:
                report.problems.append(
                    f"{split} has {report.counts.get(split)} ids; the paper's list has {count}"
                )
    if root is not None:
        datasets = {split: cls(root, split, splits=splits) for split in ids}
        report.problems += _unresolved(datasets)
        if cls.footprints_disjoint:
            report.problems += _overlaps(datasets)
    return report


def _unresolved(datasets: dict[str, GeoDataset]) -> list[str]:
    problems = []
    for split, dataset in datasets.items():
        for sample_id in dataset.ids:
            try:
                missing = [path for path in dataset.files(sample_id) if not path.is_file()]
            except DatasetError as err:
                problems.append(f"{err} (id {sample_id} of {split})")
                continue
            problems += [f"{path}: file is missing (id {sample_id} of {split})" for path in missing]
    return problems


def _overlaps(datasets: dict[str, GeoDataset]) -> list[str]:
    """Pairs of chips in different splits whose footprints share area, with the shared fraction.

    Chips in one CRS are compared exactly; chips in different UTM zones by their bounding boxes in
    WGS 84, which can flag chips that only come close.
    """
    splits, names, crss, boxes, geo = [], [], [], [], []
    problems = []
    for split, dataset in datasets.items():
        for sample_id in dataset.ids:
            try:
                path = dataset.files(sample_id)[0]
                with rasterio.open(path) as src:
                    crs, box = src.crs, tuple(src.bounds)
            except (DatasetError, RasterioError) as err:
                problems.append(f"cannot read the footprint of {sample_id} ({err})")
                continue
            splits.append(split)
            names.append(sample_id)
            crss.append(crs.to_wkt())
            boxes.append(box)
            geo.append(rasterio.warp.transform_bounds(crs, "EPSG:4326", *box))
    if not names:
        return problems
    g = np.asarray(geo)
    touching = (np.minimum(g[:, None, 2], g[None, :, 2]) > np.maximum(g[:, None, 0], g[None, :, 0])) & (
        np.minimum(g[:, None, 3], g[None, :, 3]) > np.maximum(g[:, None, 1], g[None, :, 1])
    )
    for a, b in zip(*np.nonzero(np.triu(touching, k=1)), strict=True):
        if splits[a] == splits[b]:
            continue
        box_a, box_b = (boxes[a], boxes[b]) if crss[a] == crss[b] else (geo[a], geo[b])
        width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
        height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
        if width > 0 and height > 0:
            share = 100 * width * height / ((box_a[2] - box_a[0]) * (box_a[3] - box_a[1]))
            problems.append(
                f"{names[a]} ({splits[a]}) and {names[b]} ({splits[b]}) overlap: {share:.1f} % of a chip"
            )
    return problems
