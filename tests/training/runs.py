"""Tiny ``python -m training`` runs on the fixtures: the arguments every test run shares."""

import csv
from pathlib import Path

from training.recipes import RECIPES_DIR

# A few steps, quiet, on the CPU; the recipe's callbacks (checkpoint of the best val loss) stay.
QUICK = (
    "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.max_epochs", "3",
    "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false", "--data.augment", "false",
)  # fmt: skip


def recipe(path: str) -> str:
    return str(RECIPES_DIR / path)


def tiny_args(
    recipe_path: str, root: Path, tmp: Path, checkpoint: Path, *extra: str, splits: Path | None = None
) -> list[str]:
    """``fit`` arguments of a recipe on a fixture root: the test base with its official-layout checkpoint."""
    args = ["--config", recipe(recipe_path), "--data.root", str(root), "--trainer.default_root_dir", str(tmp)]
    if splits is not None:
        args += ["--data.splits", str(splits)]
    args += ["--model.base", "prithvi-test", "--model.checkpoint", str(checkpoint), *QUICK, *extra]
    return args


def train_losses(root_dir: Path) -> list[float]:
    """``train/loss_step`` of every step, from the CSV logger of the run under `root_dir`."""
    (metrics,) = root_dir.glob("lightning_logs/version_*/metrics.csv")
    with metrics.open() as file:
        return [float(row["train/loss_step"]) for row in csv.DictReader(file) if row.get("train/loss_step")]
