"""Write the recipe files from ``learning_rates.csv``: ``python -m training.recipes.generate``.

Every cell shares the paper's recipe (Marti-Escofet et al. 2025, arXiv 2504.17397, section 4, and
its configs at IBM/peft-geofm@a08307e): seed 0; AdamW (weight decay 0.01, torch's and TerraTorch's
default) with the cell's learning rate; ReduceLROnPlateau(patience 4, factor 0.5) on the validation
loss; early stopping after 15 epochs without improvement; at most 100 epochs; the checkpoint of the
best validation loss; batch size 8 (reBEN 32; Clay's decoder runs on burn scars and Sen1Floods11 4);
D4 augmentation. The method decides what trains (`geoadapters.methods`): everything (full), the
head (linear_probe), LoRA matrices, prompts or adapter modules plus the head.
"""

import csv
from pathlib import Path
from typing import Any

import yaml

from training.recipes import RECIPES_DIR

__all__ = ["Cell", "cells", "recipe", "write_recipes"]

LEARNING_RATES = RECIPES_DIR / "learning_rates.csv"
SOURCE = "IBM/peft-geofm@a08307e"
PRITHVI_BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]

Cell = dict[str, str]


def cells() -> list[Cell]:
    """The rows of ``learning_rates.csv``: family, base, dataset, method, head, metadata, lr, source."""
    with LEARNING_RATES.open(newline="") as file:
        return list(csv.DictReader(file))


def path_of(cell: Cell) -> Path:
    """Where a cell's recipe lives under `RECIPES_DIR`."""
    if cell["family"] == "peft":
        return RECIPES_DIR / cell["base"] / f"{cell['dataset']}-{cell['method']}.yaml"
    if cell["family"] == "decoders":
        return RECIPES_DIR / "decoders" / cell["base"] / f"{cell['dataset']}-{cell['head']}.yaml"
    variant = f"{cell['base']}-{cell['metadata']}"
    return RECIPES_DIR / "metadata" / variant / f"{cell['dataset']}.yaml"


def _batch_size(cell: Cell) -> int:
    if cell["dataset"] == "reben":
        return 32
    clay_decoders = cell["family"] == "decoders" and cell["base"] == "clay-v1"
    return 4 if clay_decoders and cell["dataset"] in ("burn_scars", "sen1floods11") else 8


def recipe(cell: Cell) -> dict[str, Any]:
    """The LightningCLI config of one cell."""
    name = cell["dataset"] + "-" + cell["method"]
    if cell["family"] == "decoders":
        name += "_" + cell["head"]
    elif cell["family"] == "metadata":
        name += "_" + cell["metadata"]
    data: dict[str, Any] = {"dataset": cell["dataset"], "root": f"data/{cell['dataset']}"}
    if cell["family"] == "decoders":
        data["bands"] = PRITHVI_BANDS  # the ablation runs every base on the 6 HLS bands
    else:
        data["base"] = cell["base"]
    data |= {"metadata": cell["metadata"], "batch_size": _batch_size(cell)}
    return {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 100,
            "check_val_every_n_epoch": 1,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.EarlyStopping",
                    "init_args": {"monitor": "val/loss", "patience": 15},
                },
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"monitor": "val/loss", "mode": "min", "save_top_k": 1},
                },
                {
                    "class_path": "lightning.pytorch.callbacks.LearningRateMonitor",
                    "init_args": {"logging_interval": "epoch"},
                },
            ],
        },
        "model": {
            "class_path": "training.tasks.SegmentationTask",
            "init_args": {
                "base": cell["base"],
                "method": cell["method"],
                "head": cell["head"],
                "pretrained": True,
                "name": name,
            },
        },
        "data": {"class_path": "training.datamodule.GeoDataModule", "init_args": data},
        "optimizer": {
            "class_path": "torch.optim.AdamW",
            "init_args": {"lr": float(cell["lr"]), "weight_decay": 0.01},
        },
        "lr_scheduler": {
            "class_path": "lightning.pytorch.cli.ReduceLROnPlateau",
            "init_args": {"monitor": "val/loss", "mode": "min", "patience": 4, "factor": 0.5},
        },
    }


def text(cell: Cell) -> str:
    """The file text of a cell's recipe: a comment with its source, then the YAML."""
    family = {"peft": "PEFT matrix", "decoders": "decoder ablation", "metadata": "metadata runs"}
    head = (
        f"# {cell['base']} x {cell['dataset']} x {cell['method']}, {cell['head']} head "
        f"({family[cell['family']]}, metadata {cell['metadata']}).\n"
        f"# The recipe of arXiv 2504.17397 (section 4); learning rate from {SOURCE} {cell['source']}.\n"
        "# Written by `python -m training.recipes.generate` from learning_rates.csv; edit that, not this.\n"
    )
    return head + yaml.safe_dump(recipe(cell), sort_keys=False)


def write_recipes() -> list[Path]:
    """(Re)write every recipe file; return their paths."""
    paths = []
    for cell in cells():
        path = path_of(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(cell))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_recipes():
        print(written.relative_to(RECIPES_DIR))
