"""GEO-Bench v1.0 segmentation tasks (Lacoste et al. 2023, arXiv 2306.03831): one HDF5 file per sample.

Published on the Hugging Face Hub in ``recursix/geo-bench-1.0`` as ``segmentation_v1.0/<task>.zip``;
each task folder holds ``<sample>.hdf5`` files and ``default_partition.json`` (``{"train": [...],
"valid": [...], "test": [...]}``, sample names without the extension). A sample file has one 2-D
dataset per band, named like ``02 - Blue`` (with ``_YYYY-MM-DD`` appended in tasks with dates), and a
``label`` dataset (github.com/ServiceNow/geo-bench, ``geobench/dataset.py``). The paper uses the
``default`` partition and keeps class 0 ("no data") as a class (arXiv 2504.17397, section 4).
"""

import json
import re
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from training.datasets.base import GeoDataset, RawSample
from training.errors import DatasetError

__all__ = ["PARTITION", "GeoBenchDataset"]

PARTITION = "default_partition.json"

# GEO-Bench's Sentinel-2 band names (geobench.dataset.sentinel2_13_bands; these tasks drop cirrus
# and add "Cloud Probability", which no model of the paper reads).
_BANDS = {
    "01 - Coastal aerosol": "COASTAL_AEROSOL",
    "02 - Blue": "BLUE",
    "03 - Green": "GREEN",
    "04 - Red": "RED",
    "05 - Vegetation Red Edge": "RED_EDGE_1",
    "06 - Vegetation Red Edge": "RED_EDGE_2",
    "07 - Vegetation Red Edge": "RED_EDGE_3",
    "08 - NIR": "NIR_BROAD",
    "08A - Vegetation Red Edge": "NIR_NARROW",
    "09 - Water vapour": "WATER_VAPOR",
    "11 - SWIR": "SWIR_1",
    "12 - SWIR": "SWIR_2",
}
_NAMES = {band: name for name, band in _BANDS.items()}
_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2})$")


class GeoBenchDataset(GeoDataset):
    """A GEO-Bench segmentation task, read from its HDF5 files and a partition file.

    `split_files` maps split names to the keys of the partition file; ``--splits DIR`` takes a folder
    with another ``default_partition.json``. Band datasets are found by name; the date, where the
    names carry one, is the acquisition date at 00:00 (the paper parses it the same way).

    Attributes:
        folder: The task's folder under the data root.
    """

    folder: ClassVar[str]
    split_files: ClassVar[dict[str, str]] = {"train": "train", "val": "valid", "test": "test"}

    def open_root(self) -> None:
        """Raise unless the root holds the task folder with its partition file."""
        if not (self.root / self.folder / PARTITION).is_file():
            raise DatasetError(
                f"{self.root / self.folder / PARTITION} is missing: {self.root} is not a GEO-Bench "
                f"segmentation_v1.0 root with {self.folder}/. {self.source}"
            )

    @classmethod
    def read_splits(cls, root: Path | None, splits: Path | None = None) -> dict[str, list[str]]:
        """Sample names per split from ``default_partition.json`` in `splits`, else in the task folder.

        Raises:
            DatasetError: The partition file is missing, unreadable or lacks a split.
        """
        if splits is None and root is None:
            raise DatasetError(f"{cls.name}'s splits are its {PARTITION}, in the data root: pass --root DIR")
        path = (splits if splits is not None else root / cls.folder) / PARTITION  # type: ignore[operator]
        try:
            partition = json.loads(path.read_text(encoding="utf-8"))
            return {split: [str(name) for name in partition[key]] for split, key in cls.split_files.items()}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DatasetError(f"{path}: not a GEO-Bench partition file ({err!r})") from err

    def files(self, sample_id: str) -> list[Path]:
        """The sample's HDF5 file."""
        return [self.root / self.folder / f"{sample_id}.hdf5"]

    def read(self, sample_id: str) -> RawSample:
        """Read one sample file."""
        (path,) = self.files(sample_id)
        if not path.is_file():
            raise DatasetError(f"{path}: file is missing")
        try:
            with h5py.File(path, "r") as h5:
                keys = {_DATE.sub("", key): key for key in h5 if key != "label"}
                missing = [_NAMES[band] for band in self.bands if _NAMES[band] not in keys]
                missing += [] if "label" in h5 else ["label"]
                if missing:
                    raise DatasetError(f"{path}: has no dataset {', '.join(missing)}")
                image = np.stack([h5[keys[_NAMES[band]]][()] for band in self.bands]).astype(np.float32)
                mask = h5["label"][()].astype(np.int64)
                dates = sorted({m[1] for key in keys.values() if (m := _DATE.search(key))})
        except DatasetError:
            raise
        except OSError as err:
            raise DatasetError(
                f"{path}: not a readable HDF5 file, it is truncated or corrupt ({err})"
            ) from err
        date = datetime.strptime(dates[0], "%Y-%m-%d") if dates else None
        return RawSample(image, mask=mask, date=date)
