"""``geoadapters predict --workers``: scenes on a local Dask cluster from the command line."""

import pytest

from geoadapters.cli.main import main
from tests.inference.test_many import scenes

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a local cluster of two worker processes that import torch


def test_the_cli_runs_scenes_on_workers_and_resumes(tmp_path, capsys):
    """``predict --workers 2 --split 2``, bundled model: a summary, exit 3 (partial), a resume."""

    sources = scenes(tmp_path / "in")[:2]
    bad = tmp_path / "in" / "bad.tif"
    bad.write_bytes(b"II*\x00 not a tiff")
    out = str(tmp_path / "out")
    args = ["predict", *map(str, [*sources, bad]), "-o", out, "--workers", "2", "--split", "2"]
    assert main([*args[:6], "--split", "2"]) == 2  # --split without a cluster
    assert "give --workers or --scheduler" in capsys.readouterr().err
    assert main(args) == 3  # the good scenes are written
    captured = capsys.readouterr()
    assert "2 done, 0 skipped, 1 failed of 3 scenes" in captured.err and "bad.tif" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == ["scene0_pred.tif", "scene1_pred.tif"]
    assert main(args[:3] + args[4:]) == 0  # without the bad scene: both are up to date
    captured = capsys.readouterr()
    assert "0 done, 2 skipped, 0 failed of 2 scenes" in captured.err
    assert captured.out.count("up to date, skipped") == 2
