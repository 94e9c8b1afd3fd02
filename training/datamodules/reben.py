"""Data module of reBEN 7k: four test sets, batches of 32, padded from 120 to 128 pixels."""

from pathlib import Path
from typing import Any, Literal

from training.datamodules.base import GeoDataModule
from training.datasets.metadata import MetadataKind
from training.datasets.reben import ReBEN

__all__ = ["ReBENDataModule"]


class ReBENDataModule(GeoDataModule):
    """`ReBEN` splits as data loaders; `label` chooses segmentation maps or multi-hot labels."""

    dataset_class = ReBEN

    def __init__(
        self,
        root: Path,
        base: str | None = None,
        bands: list[str] | None = None,
        label: Literal["segmentation", "classification"] = "segmentation",
        metadata: MetadataKind = "no_metadata",
        splits: Path | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        augment: bool = True,
    ) -> None:
        """See `GeoDataModule`; `label` is passed to `ReBEN`."""
        super().__init__(root, base, bands, metadata, splits, batch_size, num_workers, augment)
        self.label = label

    def dataset_options(self) -> dict[str, Any]:
        """The label kind."""
        return {"label": self.label}
