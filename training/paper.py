"""The paper's test results (``paper_results.csv``) and the names it gives bases, methods and datasets.

``paper_results.csv`` holds every test mIoU of Marti-Escofet et al. 2025 (arXiv 2504.17397,
tables 2-4): mean and standard deviation over 5 seeds, training minutes and epochs, and the
out-of-distribution mIoU (Sen1Floods11's Bolivia, reBEN's OOD set), compiled from the CSV files of
IBM/peft-geofm@a08307e (``data/peft_table.csv``, ``data/epoch_and_time.csv``,
``data/ood_table.csv``). ``python -m training matrix`` writes its results in the same columns.
"""

import csv
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "COLUMNS",
    "DATASET_NAMES",
    "METHOD_NAMES",
    "MODEL_NAMES",
    "OOD_SET",
    "PAPER_RESULTS",
    "paper_result",
    "read_results",
]

PAPER_RESULTS = Path(__file__).parent / "paper_results.csv"
COLUMNS = (
    "model",
    "method",
    "dataset",
    "test_miou_mean",
    "test_miou_std",
    "train_time_min_mean",
    "epochs_mean",
    "ood_miou_mean",
    "ood_miou_std",
)
# Our names -> the paper's.
MODEL_NAMES = {
    "prithvi-100": "Prithvi 1.0 100M",
    "prithvi-v2-100-tl": "Prithvi 2.0 100M",
    "prithvi-300": "Prithvi 2.0 300M",
    "clay-v1": "Clay v1",
    "decur-s2": "DeCUR",
}
METHOD_NAMES = {
    "full": "Full FT",
    "linear_probe": "Linear Prob.",
    "lora": "LoRA",
    "vpt": "VPT",
    "vit_adapter": "ViT Adapter",
}
DATASET_NAMES = {
    "burn_scars": "burn_scars",
    "sen1floods11": "sen1floods11",
    "m_cashew_plantation": "m_cashew_plantation",
    "m_sa_crop_type": "m_sa_crop_type",
    "reben": "reBEN_7k",
}
# The test set of each dataset whose mIoU is the paper's OOD column.
OOD_SET = {"sen1floods11": "bolivia", "reben": "ood"}


def read_results(path: Path = PAPER_RESULTS) -> dict[tuple[str, str, str], dict[str, str]]:
    """Rows of a results CSV by (model, method, dataset), in the paper's names."""
    with path.open(newline="") as file:
        return {(row["model"], row["method"], row["dataset"]): row for row in csv.DictReader(file)}


def paper_result(base: str, dataset: str, method: str) -> Mapping[str, str] | None:
    """The paper's row of a cell in our names, or None where the paper has no such cell."""
    if base not in MODEL_NAMES or method not in METHOD_NAMES or dataset not in DATASET_NAMES:
        return None
    return read_results().get((MODEL_NAMES[base], METHOD_NAMES[method], DATASET_NAMES[dataset]))
