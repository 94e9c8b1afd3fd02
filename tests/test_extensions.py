"""A new base family, adaptation method and training dataset, each added from this file alone.

The three recipes of ARCHITECTURE.md, followed without editing the package: a toy family (one
module's worth of code and one `register_family` call, plus a catalog entry), a toy method (BitFit:
the encoder's biases train; one `register_method` call) and a toy dataset (64 px windows of the real
Sentinel-2 chip; one `register_dataset` call). They are then trained with ``python -m training fit``
(in this process, where they are registered), predicted with ``geoadapters predict``, and tested
again with ``training test --model.adapter``, which reproduces the metrics the adapter records.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import rasterio
import torch
import yaml
from torch import Tensor, nn

import geoadapters
from geoadapters.cli.main import main
from geoadapters.families import register_family
from geoadapters.hub.folder import read_config
from geoadapters.methods import MethodSettings, register_method
from geoadapters.methods.method import Method, owned_state
from geoadapters.models.encoder import Encoder, Features
from geoadapters.specs import BaseSpec, HubFile
from tests.conftest import LABEL_CHIP, S1F11, S2_CHIP
from training.datasets import register_dataset
from training.datasets.base import IGNORE_INDEX, GeoDataset, RawSample
from training.datasets.raster import read_bands, read_labels

pytest.importorskip("lightning")
pytestmark = pytest.mark.slow  # a LightningCLI fit and test: ~20 s on 2 cores

# --- a family: its architecture (plain data) and its encoder ---------------------------------------


@dataclass(frozen=True)
class ToyArch:
    """A patch convolution and a 1 x 1 mixing convolution."""

    dim: int = 16
    patch_size: int = 8

    @property
    def input_multiple(self) -> int:
        return self.patch_size


class ToyEncoder(Encoder):
    """One feature map at 1 / patch_size."""

    def __init__(self, spec: BaseSpec) -> None:
        arch = spec.arch
        assert isinstance(arch, ToyArch)
        super().__init__(spec, Features("maps", (arch.dim,), (arch.patch_size,), arch.patch_size))
        self.stem = nn.Conv2d(len(spec.input.bands), arch.dim, arch.patch_size, stride=arch.patch_size)
        self.mix = nn.Conv2d(arch.dim, arch.dim, 1)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        return [self.mix(torch.relu(self.stem(x)))]


register_family("toy", ToyArch, f"{__name__}:ToyEncoder")
TOY = geoadapters.register_base(
    BaseSpec("toy-8", ToyArch(), HubFile("example/toy-8", "toy.pt"), S1F11.select(S1F11.bands))
).name

# --- a method: BitFit (Ben Zaken et al. 2022, arXiv 2106.10199), the encoder's biases train ---------


@dataclass(frozen=True)
class BitFitSettings(MethodSettings):
    name: ClassVar[str] = "bitfit"
    description: ClassVar[str] = "the encoder's biases train"


def apply_bitfit(encoder: Encoder, settings: BitFitSettings) -> Encoder:
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_(name.endswith("bias"))
    return encoder


BITFIT = Method(apply=apply_bitfit, **owned_state(lambda name: name.endswith(".bias")))
register_method(BitFitSettings, f"{__name__}:BITFIT")

# --- a dataset: windows of the real chip, written as one image and one label file ------------------


@register_dataset
class ToyChips(GeoDataset):
    """64 px windows ``<row>_<col>`` of ``image.tif`` and ``label.tif`` in the root."""

    name = "toy_chips"
    chip_size = 64
    spec = S1F11
    classes = ("not water", "water")
    split_files: ClassVar[dict[str, str]] = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}
    source = "A folder with image.tif (6 bands), label.tif and the split lists, written by the test."

    def files(self, sample_id: str) -> list[Path]:
        return [self.root / "image.tif", self.root / "label.tif"]

    def read(self, sample_id: str) -> RawSample:
        row, col = (int(v) * self.chip_size for v in sample_id.split("_"))
        window = np.s_[row : row + self.chip_size, col : col + self.chip_size]
        image = read_bands(self.root / "image.tif", [i + 1 for i in self.band_index]).data
        mask = read_labels(self.root / "label.tif", nodata_label=IGNORE_INDEX).data[0]
        return RawSample(image[(slice(None), *window)], mask=mask[window])


def _data_root(root: Path) -> None:
    """The chip's six bands and labels, and split lists of its 64 windows of 64 px."""
    root.mkdir()
    with rasterio.open(S2_CHIP) as src:
        indexes = [list(src.descriptions).index(b) + 1 for b in ("B2", "B3", "B4", "B8A", "B11", "B12")]
        profile = src.profile | {"count": 6}
        with rasterio.open(root / "image.tif", "w", **profile) as dst:
            dst.write(src.read(indexes))
            dst.descriptions = tuple(src.descriptions[i - 1] for i in indexes)
    (root / "label.tif").write_bytes(LABEL_CHIP.read_bytes())
    ids = [f"{r}_{c}" for r in range(8) for c in range(8)]
    for split, chosen in (("train", ids[:40]), ("val", ids[40:52]), ("test", ids[52:])):
        (root / f"{split}.txt").write_text("\n".join(chosen) + "\n")


def test_a_toy_family_method_and_dataset_train_predict_and_test(tmp_path, monkeypatch):
    from training.__main__ import main as training

    monkeypatch.chdir(tmp_path)  # Lightning's logs and checkpoints land here
    _data_root(tmp_path / "data")
    torch.manual_seed(0)
    weights = tmp_path / "toy.pt"  # the toy base's "official" weights
    torch.save(ToyEncoder(geoadapters.get_base(TOY)).state_dict(), weights)
    recipe = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "max_epochs": 2, "enable_progress_bar": False, "logger": False},
        "model": {
            "class_path": "training.tasks.SegmentationTask",
            "init_args": {"base": TOY, "method": "bitfit", "head": "linear", "checkpoint": str(weights)},
        },
        "data": {
            "class_path": "training.datamodule.GeoDataModule",
            "init_args": {
                "dataset": "toy_chips",
                "root": str(tmp_path / "data"),
                "base": TOY,
                "splits": str(tmp_path / "data"),
                "batch_size": 8,
            },
        },
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert training(["fit", "--config", "recipe.yaml", "--output", "adapter"]) == 0
    config = read_config(tmp_path / "adapter")
    assert (config.base.name, config.method.name, config.name) == (TOY, "bitfit", "toy_chips-bitfit")
    assert set(geoadapters.load(TOY, tmp_path / "adapter", checkpoint=weights).adapter_state_dict()) == {
        "base_model.model.stem.bias", "base_model.model.mix.bias", "head.decoder.conv.weight",
        "head.decoder.conv.bias",
    }  # fmt: skip

    argv = [
        "predict",
        "data/image.tif",
        "--adapter",
        "adapter",
        "--checkpoint",
        str(weights),
        "-o",
        "map.tif",
    ]
    assert main(argv) == 0
    with rasterio.open(tmp_path / "map.tif") as out:
        classes = out.read(1)
    assert classes.shape == (512, 512) and set(np.unique(classes)) <= {0, 1, 255}

    # the adapter tested again from its folder (its settings, not the recipe's) gives its metrics
    retest = ["test", "--config", "recipe.yaml", "--model.adapter", "adapter", "--output", "tested"]
    assert training(retest) == 0
    tested = read_config(tmp_path / "tested").metrics["test"]
    assert json.dumps(tested, sort_keys=True) == json.dumps(config.metrics["test"], sort_keys=True)
    assert dataclasses.replace(read_config(tmp_path / "tested"), metrics={}, provenance={}) == (
        dataclasses.replace(config, metrics={}, provenance={})
    )


def test_the_training_commands_offer_the_registered_method_and_dataset():
    """``training matrix`` takes its choices from the registries, so the toy ones need no edit there."""
    from training.__main__ import build_parser

    argv = ["matrix", "--bases", TOY, "--datasets", "toy_chips", "--methods", "bitfit", "lora"]
    args = build_parser().parse_args([*argv, "--data-root", "data", "--output", "out"])
    assert (args.datasets, args.methods) == (["toy_chips"], ["bitfit", "lora"])
