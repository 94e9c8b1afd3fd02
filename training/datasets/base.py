"""`GeoDataset`: what the five datasets of the paper share.

A dataset reads one split of a data root in its published layout. A sample is a dict:

- ``image``: (C, H, W) float32, the selected bands in order, nodata and NaN set to 0, multiplied by
  the dataset's scale (not normalised: the data module normalises batches on the device, as the
  paper does);
- ``mask``: (H, W) int64 class indices, ``IGNORE_INDEX`` (-1) where the paper ignores pixels
  (segmentation datasets);
- ``label``: (classes,) float32 multi-hot labels (reBEN with ``label="classification"``);
- the metadata entries of `training.datasets.metadata` that the chosen kind asks for;
- ``id``: the sample's id in the split lists.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from geoadapters import InputSpec, get_base
from geoadapters.bands import band_indices, canonical_bands
from geoadapters.errors import BandError
from training.datasets.metadata import METADATA_KINDS, MetadataKind, encode_metadata
from training.datasets.splits import read_ids
from training.errors import DatasetError

__all__ = ["IGNORE_INDEX", "GeoDataset", "HubArchive", "RawSample", "Transform"]

# Label of pixels that the loss and the metrics skip (the paper's ``ignore_index: -1``).
IGNORE_INDEX = -1

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class HubArchive:
    """A dataset archive on the Hugging Face Hub, fetched by ``python -m training download``.

    Attributes:
        repo_id: Dataset repository, ``org/name``.
        filename: Path of the archive in the repository (``.tar.gz`` or ``.zip``).
        folders: Top-level folders the archive unpacks to under the data root.
    """

    repo_id: str
    filename: str
    folders: tuple[str, ...]


@dataclass(frozen=True)
class RawSample:
    """One sample as read from disk, before scaling and tensors.

    Attributes:
        image: (C, H, W) float32, the selected bands, nodata and NaN set to 0.
        mask: (H, W) int64 class indices with `IGNORE_INDEX`, for segmentation.
        label: (classes,) float32 multi-hot labels, for classification.
        date: Acquisition time, if the dataset records one.
        latlon: Latitude and longitude of the centre pixel in degrees, if georeferenced.
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    label: np.ndarray | None = None
    date: datetime | None = None
    latlon: tuple[float, float] | None = None


class GeoDataset(Dataset[dict[str, Any]]):
    """Base of the datasets: split lists, band selection, scaling, transforms and metadata.

    Subclasses set the class attributes and implement `open_root`, `files` and `read`.

    Attributes:
        name: Name on the command line (``burn_scars``).
        chip_size: Side of the dataset's square chips in pixels (before any padding).
        spec: The bands in the files (canonical names, file order) with the paper's scale, mean/std,
            nodata and ground sample distance: the one definition of the dataset's input.
        classes: Class names; the mask holds their indices.
        split_files: Split name -> its list file in a splits folder.
        test_splits: The splits the paper tests on, in its order (one data loader each).
        published_counts: Samples per split in the paper's lists.
        overlapping_splits: Pairs of splits that may share samples by design.
        footprints_disjoint: Whether the split is meant to keep chip footprints of different splits
            apart (``splits check`` then compares them).
        pad_to: Square size batches are reflect-padded to (the mask with `IGNORE_INDEX`), if any.
        shipped_splits: Folder of the paper's split lists in this repository, if it ships them.
        source: Where to get the data and how to lay it out; shown when a root is wrong.
        hub: The archive ``download`` fetches, if the data are on the Hugging Face Hub.
    """

    name: ClassVar[str]
    chip_size: ClassVar[int]
    spec: ClassVar[InputSpec]
    classes: ClassVar[tuple[str, ...]]
    split_files: ClassVar[dict[str, str]]
    test_splits: ClassVar[tuple[str, ...]] = ("test",)
    published_counts: ClassVar[dict[str, int]] = {}
    overlapping_splits: ClassVar[frozenset[frozenset[str]]] = frozenset()
    footprints_disjoint: ClassVar[bool] = False
    pad_to: ClassVar[int | None] = None
    shipped_splits: ClassVar[Path | None] = None
    source: ClassVar[str]
    hub: ClassVar[HubArchive | None] = None

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        bands: Sequence[str] | None = None,
        metadata: MetadataKind = "no_metadata",
        splits: str | Path | None = None,
        transform: Transform | None = None,
    ) -> None:
        """Open one split of a data root.

        Args:
            root: The data root, laid out as published (see `source`).
            split: One of `split_files`.
            bands: Bands to read, in this order; all of `spec` when None.
            metadata: Which model's metadata the samples carry.
            splits: Folder of split lists to use instead of the shipped ones (same file names).
            transform: Applied to each sample's ``image`` and ``mask`` (D4 on train).

        Raises:
            DatasetError: The root, the split or the split lists are not usable.
            BandError: A band the dataset does not have.
        """
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: the {self.name} data root is not a directory. {self.source}")
        self.open_root()
        if split not in self.split_files:
            raise DatasetError(
                f"{self.name} has no split {split!r}; its splits are {', '.join(self.split_files)}"
            )
        if metadata not in METADATA_KINDS:
            raise DatasetError(f"unknown metadata {metadata!r}; choose one of {', '.join(METADATA_KINDS)}")
        self.split = split
        self.bands = canonical_bands(bands) if bands is not None else self.spec.bands
        self.band_index = band_indices(self.spec.bands, self.bands)
        self.input_spec = self.spec.select(self.bands)
        self.metadata: MetadataKind = metadata
        self.ids = self.read_splits(self.root, Path(splits) if splits is not None else None)[split]
        self.transform = transform

    @classmethod
    def bands_for(cls, base: str) -> tuple[str, ...]:
        """The pretraining bands of a base model that this dataset has, in the base's order.

        This gives the paper's band sets: Prithvi's 6 HLS bands, Clay's 10 Sentinel-2 bands, DeCUR's
        12 (13 with cirrus on Sen1Floods11), and 6 for Clay and DeCUR on HLS burn scars.

        Raises:
            UnknownNameError: No base of that name.
            BandError: The dataset has none of the base's bands.
        """
        bands = tuple(b for b in get_base(base).input.bands if b in cls.spec.bands)
        if not bands:
            raise BandError(f"{cls.name} has none of the bands of {base}")
        return bands

    @classmethod
    def read_splits(cls, root: Path | None, splits: Path | None = None) -> dict[str, list[str]]:
        """Sample ids per split: from `splits`, else from the shipped lists.

        Raises:
            DatasetError: A list file is missing or unreadable.
        """
        folder = splits or cls.shipped_splits
        if folder is None:
            raise DatasetError(f"{cls.name} ships no split lists; pass --splits DIR")
        return {split: read_ids(folder / file) for split, file in cls.split_files.items()}

    def open_root(self) -> None:
        """Check the root's layout and read what every sample shares.

        Raises:
            DatasetError: The root is not laid out as published; the message says what to do.
        """

    def files(self, sample_id: str) -> list[Path]:
        """The files one sample reads."""
        raise NotImplementedError

    def read(self, sample_id: str) -> RawSample:
        """Read one sample from disk.

        Raises:
            DatasetError: A file is missing, truncated or corrupt.
        """
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample_id = self.ids[index]
        raw = self.read(sample_id)
        sample: dict[str, Any] = {"image": torch.from_numpy(raw.image * np.float32(self.spec.scale))}
        if raw.mask is not None:
            if raw.mask.shape != raw.image.shape[1:]:
                raise DatasetError(
                    f"{self.files(sample_id)[-1]}: labels are {raw.mask.shape}, "
                    f"the image is {raw.image.shape[1:]}"
                )
            sample["mask"] = torch.from_numpy(raw.mask)
        if raw.label is not None:
            sample["label"] = torch.from_numpy(raw.label)
        if self.transform is not None:
            sample = self.transform(sample)
        sample |= encode_metadata(
            self.metadata, date=raw.date, latlon=raw.latlon, bands=self.bands, gsd=self.spec.gsd
        )
        sample["id"] = sample_id
        return sample
