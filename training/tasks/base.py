"""`GeoTask`: the LightningModule around a `GeoModel` built by `geoadapters.factory.build_model`.

The task's ``__init__`` arguments are the recipe's model half, AdapterConfig-shaped: the base and its
architecture overrides, the method and its settings, the head and its settings. The dataset half
(bands, normalisation, classes, chip size: `DatasetInfo`) comes from the data module; LightningCLI
links it in (``GeoDataModule.info``). The optimiser and learning-rate scheduler are LightningCLI's
``optimizer:`` and ``lr_scheduler:``.
"""

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import MetricCollection

from geoadapters.catalog import get_base
from geoadapters.config import AdapterConfig, BaseRef, Inference
from geoadapters.errors import AdapterError
from geoadapters.factory import build_model
from geoadapters.geomodel import GeoModel
from geoadapters.heads.registry import head_settings
from geoadapters.hub.folder import read_tensors
from geoadapters.methods.registry import method_settings
from geoadapters.references import resolve_adapter
from training.datamodule import DatasetInfo

__all__ = ["NOT_METADATA", "GeoTask", "SkippedTestSetWarning", "adapter_name"]

# Batch entries that are not metadata for the encoder.
NOT_METADATA = frozenset({"image", "mask", "label", "id"})


class SkippedTestSetWarning(UserWarning):
    """A test set that gave no samples (a root holding only some of them): no metric is recorded for it."""


def adapter_name(name: str | None, dataset: str, method: str, head: str) -> str:
    """An adapter's short name: `name`, or ``<dataset>-<method>`` (``_<head>`` unless linear)."""
    return name or f"{dataset}-{method}" + ("" if head == "linear" else f"_{head}")


class GeoTask(LightningModule):
    """Train, validate and test one adapter; subclasses give the loss and the metrics.

    Args:
        base: Catalog name of the base model (``prithvi-300``).
        method: Adapter method: ``full``, ``linear_probe``, ``lora``, ``vpt`` or ``vit_adapter``.
        head: Task head: ``linear``, ``fcn``, ``upernet``, ``unet`` or ``classification``.
        method_settings: Settings of the method other than the paper's defaults (``r``, ...).
        head_settings: Settings of the head other than the paper's defaults (``channels``, ...).
        overrides: Architecture fields of the base to change (``depth``, ``embed_dim``,
            ``num_heads``: a tiny model for a CPU smoke run).
        pretrained: Load the official base weights; False starts from random weights.
        checkpoint: Local copy of the official base checkpoint (else the Hub's, cached).
        adapter: Start from this adapter's weights (folder, ``org/repo[@revision]`` or short name),
            e.g. to test a published adapter.
        name: Short name of the adapter; default ``<dataset>-<method>`` (``_<head>`` for other heads
            than ``linear``).
        inference: Tiling the adapter records (``tile_size``, ``overlap``, ``batch_size``) other than
            the default: tiles of the training chip size without overlap.
        description: The model card's summary of what the adapter is (default: the card's own).
        dataset: The data's name, input contract, classes, chip size and test sets (linked from
            the data module by the command line).
    """

    def __init__(
        self,
        base: str,
        method: str = "lora",
        head: str = "linear",
        method_settings: dict[str, Any] | None = None,
        head_settings: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
        pretrained: bool = True,
        checkpoint: Path | None = None,
        adapter: str | None = None,
        name: str | None = None,
        inference: dict[str, int] | None = None,
        description: str | None = None,
        dataset: DatasetInfo | None = None,
    ) -> None:
        super().__init__()
        if dataset is None:
            raise TypeError("a GeoTask needs its dataset (DatasetInfo; GeoDataModule.info gives it)")
        self.save_hyperparameters(ignore=["dataset"])
        self.base = base
        self.method = method
        self.head = head
        self.method_settings = dict(method_settings or {})
        self.head_settings = dict(head_settings or {})
        self.overrides = dict(overrides or {})
        self.pretrained = pretrained
        self.checkpoint = checkpoint
        self.adapter = adapter
        self.name = name
        self.inference = dict(inference or {})
        self.description = description
        self.dataset = dataset
        self.test_names = dataset.test_names
        self.test_results: dict[str, dict[str, Any]] = {}
        self.model = build_model(self.adapter_config(dataset), checkpoint=checkpoint, pretrained=pretrained)
        if adapter is not None:
            self._load_adapter(self.model, adapter)
        self.configure_metrics()

    # --- the model -------------------------------------------------------------------------------

    def adapter_config(self, dataset: DatasetInfo) -> AdapterConfig:
        """The config of the adapter this task trains on `dataset`."""
        spec = get_base(self.base).with_overrides(bands=dataset.input.bands, **self.overrides)
        return AdapterConfig(
            base=BaseRef.from_spec(spec, pretrained=self.pretrained or self.checkpoint is not None),
            method=method_settings(self.method, **self.method_settings),
            head=head_settings(self.head, **self.head_settings),
            classes=dataset.classes,
            input=dataset.input,
            inference=Inference(**self.tiling(dataset.chip_size)),
            name=self.adapter_name(dataset.name),
        )

    def tiling(self, chip_size: int) -> dict[str, int]:
        """The `Inference` fields: tiles of the chip size without overlap (the seam study), or as given."""
        return {"tile_size": chip_size, "overlap": 0} | self.inference

    def adapter_name(self, dataset: str) -> str:
        """The adapter's short name (`adapter_name`)."""
        return adapter_name(self.name, dataset, self.method, self.head)

    def _load_adapter(self, model: GeoModel, reference: str) -> None:
        source = resolve_adapter(reference, self.base)
        folder, found = source.folder("training"), source.config
        if (found.base.name, found.method, found.head) != (self.base, model.config.method, model.config.head):
            raise AdapterError(
                f"adapter {reference} is a {found.method.name} adapter with a {found.head.name} head on "
                f"{found.base.name}; this task trains {self.method} with {self.head} on {self.base}"
            )
        model.load_adapter_state_dict(read_tensors(folder))

    def configure_metrics(self) -> None:
        """Create `metrics`: a `MetricCollection` for ``val`` and for every test set (subclasses)."""
        self.metrics = nn.ModuleDict()

    def forward(self, batch: Mapping[str, Any]) -> Tensor:
        """Logits of a preprocessed batch; its metadata entries go to the encoder."""
        metadata = {k: v for k, v in batch.items() if k not in NOT_METADATA}
        logits: Tensor = self.model(batch["image"], **metadata)
        return logits

    def target(self, batch: Mapping[str, Any]) -> Tensor:
        """What the loss compares the logits with (subclasses)."""
        raise NotImplementedError

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """The training loss (subclasses)."""
        raise NotImplementedError

    # --- steps -----------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Loss of one training batch, logged as ``train/loss``."""
        loss = self.loss(self(batch), self.target(batch))
        size = len(batch["image"])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """``val/loss`` (what the scheduler, early stopping and the checkpoint watch) and val metrics."""
        logits, target = self(batch), self.target(batch)
        size = len(batch["image"])
        self.log("val/loss", self.loss(logits, target), on_epoch=True, sync_dist=True, batch_size=size)
        self.update_metrics("val", logits, target)

    def on_validation_epoch_end(self) -> None:
        """Log the validation metrics."""
        self.log_dict(self.scalars(self.compute_metrics("val"), "val"), sync_dist=True)

    def on_test_epoch_start(self) -> None:
        """Forget the results of an earlier test run."""
        self.test_results = {}
        self.tested: set[str] = set()

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        """Accumulate the metrics of one test set (one loader per test set)."""
        logits, target = self(batch), self.target(batch)
        name = self.test_names[dataloader_idx]
        self.tested.add(name)
        self.log(
            f"test/{name}/loss",
            self.loss(logits, target),
            on_epoch=True,
            sync_dist=True,
            add_dataloader_idx=False,
            batch_size=len(batch["image"]),
        )
        self.update_metrics(name, logits, target)

    def on_test_epoch_end(self) -> None:
        """Compute every test set's metrics into `test_results` and log its scalars.

        A test set without samples is skipped with a `SkippedTestSetWarning`: no metric of nothing.
        """
        for name in self.test_names:
            if name not in self.tested:
                warnings.warn(f"the {name} test set has no samples: it is skipped", SkippedTestSetWarning, 2)
                continue
            self.test_results[name] = self.compute_metrics(name)
            self.log_dict(self.scalars(self.test_results[name], f"test/{name}"), sync_dist=True)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class indices (segmentation) or label probabilities (multi-label) of a batch."""
        return self.predict_output(self(batch))

    # --- metrics (subclasses) --------------------------------------------------------------------

    def split_metrics(self, split: str) -> MetricCollection:
        """The metric collection of `split` (``val`` or a test set name) that `configure_metrics` made."""
        collection = self.metrics[split]
        assert isinstance(collection, MetricCollection)
        return collection

    def update_metrics(self, split: str, logits: Tensor, target: Tensor) -> None:
        """Add a batch to the metrics of `split` (``val`` or a test set name)."""
        raise NotImplementedError

    def compute_metrics(self, split: str) -> dict[str, Any]:
        """The metrics of `split` as plain numbers (x100, as the paper reports them), then reset."""
        raise NotImplementedError

    def predict_output(self, logits: Tensor) -> Tensor:
        """What `predict_step` returns for the logits."""
        raise NotImplementedError

    @staticmethod
    def scalars(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
        """The scalar entries of `metrics` under ``prefix/name`` (per-class lists are left out)."""
        return {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float)}

    @staticmethod
    def percent(value: Tensor) -> float:
        """A metric in [0, 1] as a percentage rounded to 4 decimals."""
        return round(float(torch.as_tensor(value).item()) * 100, 4)
