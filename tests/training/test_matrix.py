"""``python -m training matrix``: cells trained per seed, results in the paper's columns, beside its own."""

import csv
from pathlib import Path

import pytest

from tests.training.runs import QUICK
from tests.training.test_publish import OVERRIDES
from training.__main__ import main
from training.paper import COLUMNS, PAPER_RESULTS


def test_paper_results_have_the_columns_the_harness_writes():
    with PAPER_RESULTS.open() as file:
        assert tuple(next(csv.reader(file))) == COLUMNS


@pytest.mark.slow
def test_matrix_runs_cells_and_compares_with_the_paper(cashew, tmp_path, capsys, monkeypatch):
    root, _ = cashew
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "m_cashew_plantation").symlink_to(root)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    args = ["matrix", "--bases", "prithvi-300", "decur-s2", "--datasets", "m_cashew_plantation",
            "--methods", "lora", "--seeds", "2", "--data-root", str(data_root),
            "--output", str(tmp_path / "m"),
            "--", "--data.batch_size", "3", "--model.pretrained", "false", "--model.overrides", OVERRIDES,
            *QUICK, "--trainer.max_epochs", "1"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "decur-s2-m_cashew_plantation-lora: not in the paper's matrix" in out
    assert "paper 77.53 ± 0.48" in out  # Prithvi 2.0 300M, LoRA, cashew
    with (tmp_path / "m" / "results.csv").open() as file:
        (row,) = list(csv.DictReader(file))
    assert (row["model"], row["method"], row["dataset"]) == (
        "Prithvi 2.0 300M",
        "LoRA",
        "m_cashew_plantation",
    )
    assert 0 <= float(row["test_miou_mean"]) <= 100 and row["epochs_mean"] == "1.0"
    assert sorted(p.name for p in (tmp_path / "m" / "prithvi-300-m_cashew_plantation-lora").iterdir()) == [
        "logs", "seed0", "seed1",
    ]  # fmt: skip
