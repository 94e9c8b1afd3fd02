"""``python -m training matrix``: reproduce cells of the paper's table and compare them with it.

Each cell (base x dataset x method of the PEFT matrix) is trained once per seed by ``python -m
training fit`` in a fresh process, from its recipe, with the data root ``DATA_ROOT/<dataset>`` and
any further LightningCLI overrides. Adapter folders go to ``OUTPUT/<base>-<dataset>-<method>/seed<k>``;
a folder that exists already is reused, so an interrupted matrix resumes. The test metrics are
collected into ``OUTPUT/results.csv`` in the columns of the paper's ``paper_results.csv``, and each
cell is printed beside the paper's mean ± std.
"""

import csv
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from geoadapters.errors import AdapterError
from training.paper import COLUMNS, DATASET_NAMES, METHOD_NAMES, MODEL_NAMES, OOD_SET, paper_result
from training.recipes import RECIPES_DIR

__all__ = ["Cell", "cell_row", "format_comparison", "run_matrix"]


@dataclass(frozen=True)
class Cell:
    """One cell of the PEFT matrix."""

    base: str
    dataset: str
    method: str

    @property
    def recipe(self) -> Path:
        """The cell's recipe file."""
        return RECIPES_DIR / self.base / f"{self.dataset}-{self.method}.yaml"

    @property
    def name(self) -> str:
        """``<base>-<dataset>-<method>``."""
        return f"{self.base}-{self.dataset}-{self.method}"


def _mean_std(values: Sequence[float]) -> tuple[str, str]:
    if not values:
        return "", ""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f}", f"{std:.3f}"


def cell_row(cell: Cell, folders: Sequence[Path]) -> dict[str, str]:
    """The results row of a cell from the adapter folders of its seeds."""
    test, ood, minutes, epochs = [], [], [], []
    for folder in folders:
        config = json.loads((folder / "geoadapter.json").read_text())
        metrics, provenance = config["metrics"], config["provenance"]
        test.append(float((metrics.get("test") or metrics["same_dist"])["mIoU"]))
        if cell.dataset in OOD_SET:
            ood.append(float(metrics[OOD_SET[cell.dataset]]["mIoU"]))
        minutes.append(float(provenance["wall_seconds"]) / 60)
        epochs.append(float(provenance["epochs"]))
    test_mean, test_std = _mean_std(test)
    ood_mean, ood_std = _mean_std(ood)
    return {
        "model": MODEL_NAMES.get(cell.base, cell.base),
        "method": METHOD_NAMES[cell.method],
        "dataset": DATASET_NAMES[cell.dataset],
        "test_miou_mean": test_mean,
        "test_miou_std": test_std,
        "train_time_min_mean": f"{statistics.fmean(minutes):.2f}",
        "epochs_mean": f"{statistics.fmean(epochs):.1f}",
        "ood_miou_mean": ood_mean,
        "ood_miou_std": ood_std,
    }


def format_comparison(cell: Cell, row: dict[str, str]) -> str:
    """One line: the cell, our test mIoU mean ± std, the paper's."""
    paper = paper_result(cell.base, cell.dataset, cell.method)
    theirs = (
        f"{float(paper['test_miou_mean']):.2f} ± {float(paper['test_miou_std']):.2f}"
        if paper
        else "not in the paper"
    )
    ours = f"{float(row['test_miou_mean']):.2f} ± {float(row['test_miou_std']):.2f}"
    return f"{cell.name:<45} ours {ours:>15}   paper {theirs}"


def run_matrix(
    cells: Sequence[Cell],
    *,
    seeds: int,
    data_root: Path,
    output: Path,
    overrides: Sequence[str] = (),
    echo: Callable[[str], None] = print,
) -> Path:
    """Train and test every cell `seeds` times, write ``output/results.csv`` and return its path.

    Cells the paper does not have (no recipe) are skipped with a note.

    Raises:
        AdapterError: A training run failed (the message names the cell and the command).
    """
    rows = []
    for cell in cells:
        if not cell.recipe.is_file():
            echo(f"{cell.name}: not in the paper's matrix (no recipe {cell.recipe.name}), skipped")
            continue
        folders = []
        for seed in range(seeds):
            folder = output / cell.name / f"seed{seed}"
            if not (folder / "geoadapter.json").is_file():
                command = [
                    sys.executable, "-m", "training", "fit", "--config", str(cell.recipe),
                    "--data.root", str(data_root / cell.dataset), "--seed_everything", str(seed),
                    "--output", str(folder), "--trainer.default_root_dir", str(output / cell.name / "logs"),
                    *overrides,
                ]  # fmt: skip
                echo(f"training {cell.name}, seed {seed}")
                if subprocess.run(command, check=False).returncode != 0:
                    raise AdapterError(f"training {cell.name} with seed {seed} failed: {' '.join(command)}")
            folders.append(folder)
        row = cell_row(cell, folders)
        rows.append(row)
        echo(format_comparison(cell, row))
    output.mkdir(parents=True, exist_ok=True)
    results = output / "results.csv"
    with results.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return results
