"""``prepare reben``: merge each BigEarthNet-S2 patch's 12 band files onto its 10 m grid.

The paper's one conversion step (IBM/peft-geofm @ 5fe258d, ``join_reben_s2_bands.py``): bands B01-B12
without B10, each band not on B02's 120 x 120 grid resampled onto it with nearest neighbour (at
20 and 60 m that repeats each pixel 2 or 6 times), a patch with nodata pixels refused, written as
float32 ``S2_merged/<patch>.tif`` with B02's transform. Outputs appear whole or not at all (temporary
file, then rename) and existing ones are kept, so the command can be rerun after an interruption.
"""

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.warp import Resampling, reproject

from training.datasets.reben import BAND_FILES, ReBEN, merged_path
from training.errors import DatasetError

__all__ = ["PrepareReport", "band_path", "merge_patch", "prepare_reben"]


@dataclass
class PrepareReport:
    """What ``prepare`` did.

    Attributes:
        merged: Patches written now.
        skipped: Patches whose merged file existed already.
        errors: One line per patch that could not be merged, naming the file.
    """

    merged: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def band_path(root: Path, patch: str, band: str) -> Path:
    """A band file in the published BigEarthNet-S2 layout."""
    return root / "BigEarthNet-S2" / patch[:-6] / patch / f"{patch}_{band}.tif"


def merge_patch(root: Path, patch: str) -> Path:
    """Write ``S2_merged/<patch>.tif`` from the patch's band files and return its path.

    Raises:
        DatasetError: A band file is missing, unreadable, or has nodata pixels.
    """
    bands = []
    for band in BAND_FILES:
        path = band_path(root, patch, band)
        if not path.is_file():
            raise DatasetError(f"{path}: file is missing")
        try:
            with rasterio.open(path) as src:
                data = src.read(1, masked=True)
                grid = (src.transform, src.crs, src.shape)
        except RasterioError as err:
            raise DatasetError(f"{path}: not a readable GeoTIFF, truncated or corrupt ({err})") from err
        masked = int(np.ma.getmaskarray(data).sum())
        if masked:
            raise DatasetError(f"{path}: has {masked} nodata pixels; the paper refuses such patches")
        bands.append((data.filled().astype(np.float32), grid))
    reference = bands[BAND_FILES.index("B02")][1]
    transform, crs, shape = reference
    merged = np.empty((len(bands), *shape), dtype=np.float32)
    for out, (data, (src_transform, src_crs, src_shape)) in zip(merged, bands, strict=True):
        if (src_transform, src_crs, src_shape) == reference:
            out[:] = data
        else:
            reproject(
                data, out, src_transform=src_transform, src_crs=src_crs, dst_transform=transform, dst_crs=crs,
                resampling=Resampling.nearest,
            )  # fmt: skip
    target = merged_path(root, patch)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": len(bands), "height": shape[0], "width": shape[1],
        "crs": crs, "transform": transform, "compress": "deflate",
    }  # fmt: skip
    with rasterio.open(temporary, "w", **profile) as dst:
        dst.write(merged)
        dst.descriptions = BAND_FILES
    os.replace(temporary, target)
    return target


def prepare_reben(
    root: Path,
    *,
    splits: Path | None = None,
    progress: Callable[[Iterable[str]], Iterable[str]] = lambda ids: ids,
) -> PrepareReport:
    """Merge the bands of every patch in the split lists that has no merged file yet.

    Args:
        root: The reBEN root (holding ``BigEarthNet-S2/``).
        splits: Folder of split lists instead of the shipped ones (e.g. a subset).
        progress: Wraps the patch ids, e.g. in a progress bar.

    Raises:
        DatasetError: The root has no ``BigEarthNet-S2`` folder or a split list is unreadable.
    """
    if not (root / "BigEarthNet-S2").is_dir():
        raise DatasetError(
            f"{root / 'BigEarthNet-S2'} is missing: {root} is not a reBEN root. {ReBEN.source}"
        )
    patches = sorted({patch for ids in ReBEN.read_splits(root, splits).values() for patch in ids})
    report = PrepareReport()
    for patch in progress(patches):
        if merged_path(root, patch).is_file():
            report.skipped += 1
            continue
        try:
            merge_patch(root, patch)
            report.merged += 1
        except DatasetError as err:
            report.errors.append(str(err))
    return report
