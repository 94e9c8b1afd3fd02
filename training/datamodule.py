"""`GeoDataModule`: any registered dataset's splits as Lightning data loaders, as the paper batches them.

One data module for every dataset: ``--data.dataset NAME`` picks a dataset of `training.datasets`
(`register_dataset`), whose class says everything particular to it. Train batches are shuffled,
D4-augmented and drop the last incomplete batch; val and test are read as stored. Batches are
normalised (and reBEN padded) on the device after transfer (`training.transforms.preprocess`). The
``__init__`` arguments are plain typed values, so LightningCLI takes them as ``--data.dataset
sen1floods11 --data.root DIR --data.base prithvi-300 ...``.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from geoadapters import InputSpec
from geoadapters.errors import BandError
from geoadapters.specs import SCENE_METADATA
from training.datasets import GeoDataset, get_dataset
from training.datasets.metadata import MetadataKind, collate
from training.errors import DatasetError
from training.transforms import D4, preprocess

__all__ = ["DatasetInfo", "GeoDataModule"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know of its data: the dataset half of an adapter's config.

    Attributes:
        name: The dataset's name (``burn_scars``).
        input: Bands and normalisation of the batches' images.
        classes: Class names in label order.
        chip_size: Side of the training chips in pixels (the adapter's tile size).
        test_names: Names of the test sets, one per test loader.
    """

    name: str
    input: InputSpec
    classes: tuple[str, ...]
    chip_size: int
    test_names: tuple[str, ...]


def _test_name(split: str, tested: tuple[str, ...]) -> str:
    """The name a test split's metrics are recorded under, when the splits `tested` are tested.

    The paper calls the in-distribution set ``same_dist`` where there are others (Sen1Floods11,
    reBEN), else ``test``.
    """
    return "same_dist" if split == "test" and len(tested) > 1 else split


class GeoDataModule(LightningDataModule):
    """Data loaders of one registered dataset."""

    def __init__(
        self,
        dataset: str,
        root: Path,
        base: str | None = None,
        bands: list[str] | None = None,
        metadata: MetadataKind = "no_metadata",
        splits: Path | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        augment: bool = True,
        test_sets: list[str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Describe the data; nothing is read until `setup`.

        Args:
            dataset: Name of a registered dataset (``burn_scars``, ``sen1floods11``, ...).
            root: The data root in the dataset's published layout.
            base: Base model whose pretraining bands to read (those the dataset has).
            bands: Bands to read instead, in order; all the dataset's bands when neither is given.
            metadata: Which model's metadata batches carry.
            splits: Folder of split lists to use instead of the shipped ones.
            batch_size: Samples per batch (the paper: 8, reBEN 32).
            num_workers: Loader worker processes.
            augment: Apply D4 to training samples.
            test_sets: The dataset's test splits to test on, in this order; all of them by default
                (a root holding only some of them).
            options: Further arguments of the dataset class (reBEN: ``label: classification``).

        Raises:
            BandError: Unknown bands, bands the dataset lacks, or both `base` and `bands`.
            UnknownNameError: No dataset or base of that name.
            DatasetError: A test set the dataset does not have.
        """
        super().__init__()
        self.dataset_class: type[GeoDataset] = get_dataset(dataset)
        self.options = dict(options or {})
        if base is not None and bands is not None:
            raise BandError("give a base model or a band list, not both")
        self.root = Path(root)
        self.bands: tuple[str, ...] | None = None
        if base is not None:
            self.bands = self.dataset_class.bands_for(base)
        elif bands is not None:
            self.bands = tuple(bands)
        self.metadata: MetadataKind = metadata
        self.splits = splits
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        known = self.dataset_class.test_splits
        names = {_test_name(s, known): s for s in known}  # the names its metrics are recorded under too
        unknown = [s for s in test_sets or () if s not in known and s not in names]
        if unknown:
            raise DatasetError(
                f"{self.dataset_class.name} has no test set {', '.join(unknown)}; its test sets are "
                f"{', '.join(names)}"
            )
        self.test_splits: tuple[str, ...] = tuple(names.get(s, s) for s in test_sets) if test_sets else known
        self.datasets: dict[str, GeoDataset] = {}

    def dataset(self, split: str) -> GeoDataset:
        """One split, D4-augmented when it is ``train`` and augmentation is on."""
        return self.dataset_class(
            self.root,
            split,
            bands=self.bands,
            metadata=self.metadata,
            splits=self.splits,
            transform=D4() if split == "train" and self.augment else None,
            **self.options,
        )

    @property
    def input_spec(self) -> InputSpec:
        """Bands and normalisation of the batches' images."""
        spec = self.dataset_class.spec.select(self.bands or self.dataset_class.spec.bands)
        given = () if self.metadata in ("no_metadata", "clay_gw") else SCENE_METADATA  # gw: per dataset
        return dataclasses.replace(spec, metadata=given)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the dataset, in label order."""
        return self.dataset_class.classes

    @property
    def test_names(self) -> tuple[str, ...]:
        """Names of the test sets, one per test loader (`_test_name`)."""
        return tuple(_test_name(s, self.test_splits) for s in self.test_splits)

    @property
    def info(self) -> DatasetInfo:
        """The dataset half of an adapter's config (LightningCLI links it into the task)."""
        cls = self.dataset_class
        return DatasetInfo(cls.name, self.input_spec, self.classes, cls.chip_size, self.test_names)

    def setup(self, stage: str) -> None:
        """Open the splits a stage needs: fit -> train, val; validate -> val; test and predict -> tests."""
        needed = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": self.test_splits,
            "predict": self.test_splits,
        }[stage]
        for split in needed:
            if split not in self.datasets:
                self.datasets[split] = self.dataset(split)

    def _loader(self, split: str) -> DataLoader[dict[str, Any]]:
        train = split == "train"
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        """Shuffled, augmented training batches; the last incomplete batch is dropped."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        """Validation batches, as stored."""
        return self._loader("val")

    def test_dataloader(self) -> list[DataLoader[dict[str, Any]]]:
        """One loader per test set, in the paper's order (`GeoDataset.test_splits`) or as chosen."""
        return [self._loader(split) for split in self.test_splits]

    def predict_dataloader(self) -> list[DataLoader[dict[str, Any]]]:
        """The test sets, for prediction."""
        return self.test_dataloader()

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Normalise (and pad) a batch on its device, as the paper does."""
        return preprocess(batch, self.input_spec, self.dataset_class.pad_to)
