"""The adapter folder at the end of a run: the best weights, metrics per test set and provenance.

`provenance` records what is needed to trust and repeat a run: the recipe and its hash, the
command-line overrides, geoadapters and torch versions, the git commit of the checkout, seed,
epochs, the hashes of the split lists, hardware, wall time and peak memory. Only global rank 0
writes, and the folder appears whole or not at all (`GeoModel.save_pretrained`).
"""

import hashlib
import platform
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch import Trainer

import geoadapters
from training.datamodule import GeoDataModule
from training.paper import OOD_SET, paper_result
from training.tasks.base import GeoTask

__all__ = ["git_commit", "peak_memory_mb", "provenance", "split_hashes", "write_folder"]

REPO = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The checkout's commit (``+dirty`` with uncommitted changes), or ``unknown`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def split_hashes(data: GeoDataModule) -> dict[str, str]:
    """sha256 of each split's sorted ids: which samples the run saw."""
    ids = data.dataset_class.read_splits(data.root, data.splits)
    return {
        split: hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest() for split, names in ids.items()
    }


def peak_memory_mb() -> float:
    """Peak memory of this process: CUDA max allocated on a GPU, else peak resident set size."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _hardware(trainer: Trainer) -> str:
    accelerator = type(trainer.accelerator).__name__.replace("Accelerator", "")
    device = (
        torch.cuda.get_device_name() if accelerator == "CUDA" else platform.processor() or platform.machine()
    )
    return f"{trainer.world_size} x {accelerator} ({device}), {trainer.strategy.__class__.__name__}"


def provenance(
    trainer: Trainer,
    task: GeoTask,
    data: GeoDataModule,
    *,
    recipes: Sequence[Path],
    argv: Sequence[str],
    seed: int | None,
    wall_seconds: float,
) -> dict[str, Any]:
    """What the adapter folder records about the run that made it."""
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_score", None)
    hub = data.dataset_class.hub
    record: dict[str, Any] = {"dataset": data.dataset_class.name}
    if task.description is not None:
        record["description"] = task.description
    if hub is not None:
        record["dataset_id"] = hub.repo_id
    paper = paper_result(task.base, data.dataset_class.name, task.method) if task.head == "linear" else None
    if paper is not None:
        record["paper"] = _paper_metrics(paper, data)
    return record | {
        "recipe": [_relative(p) for p in recipes],
        "recipe_sha256": [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in recipes],
        "command": ["python", "-m", "training", *argv],
        "geoadapters_version": geoadapters.__version__,
        "torch_version": torch.__version__,
        "lightning_version": lightning.__version__,
        "python_version": sys.version.split()[0],
        "git_commit": git_commit(),
        "seed": seed,
        "epochs": trainer.current_epoch,
        "global_steps": trainer.global_step,
        "best_val_loss": None if best is None else round(float(best), 6),
        "base_weights": "official" if task.pretrained or task.checkpoint else "random (pretrained false)",
        "splits_sha256": split_hashes(data),
        "hardware": _hardware(trainer),
        "precision": str(trainer.precision),
        "wall_seconds": round(wall_seconds, 1),
        "peak_memory_mb": peak_memory_mb(),
        "training": _training_text(task, data, trainer),
    }


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _paper_metrics(row: Mapping[str, str], data: GeoDataModule) -> dict[str, dict[str, str]]:
    """The paper's mIoU (mean ± std) on the test set and, where it has one, the OOD set."""
    names = data.test_names
    out = {names[0]: {"mIoU": f"{float(row['test_miou_mean']):.2f} ± {float(row['test_miou_std']):.2f}"}}
    ood = OOD_SET.get(data.dataset_class.name)
    if ood and row["ood_miou_mean"]:
        out[ood] = {"mIoU": f"{float(row['ood_miou_mean']):.2f} ± {float(row['ood_miou_std']):.2f}"}
    return out


def _training_text(task: GeoTask, data: GeoDataModule, trainer: Trainer) -> str:
    optimizer = trainer.optimizers[0] if trainer.optimizers else None
    lr = f", learning rate {optimizer.defaults['lr']:g}" if optimizer is not None else ""
    name = type(optimizer).__name__ if optimizer is not None else "no optimiser"
    return (
        f"Trained with `python -m training fit` on {data.dataset_class.name} (bands "
        f"{', '.join(data.input_spec.bands)}), batch size {data.batch_size}, {name}{lr}, "
        f"{trainer.current_epoch} epochs; the weights of the best validation loss are kept."
    )


def write_folder(
    trainer: Trainer,
    task: GeoTask,
    folder: Path,
    *,
    metrics: Mapping[str, Any],
    provenance: Mapping[str, Any],
    overwrite: bool,
) -> Path | None:
    """Write the adapter folder on global rank 0 (the others return None); every rank waits for it."""
    written = None
    if trainer.is_global_zero:
        written = task.model.save_pretrained(
            folder, metrics=metrics, provenance=provenance, overwrite=overwrite
        )
    trainer.strategy.barrier("adapter folder")
    return written
