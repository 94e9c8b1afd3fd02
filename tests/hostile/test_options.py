"""Option and environment values a careless user gives: a memory budget of 1e308 GB, or not a number.
Each is a one-line usage error (exit 2) on the command line, a project exception from Python.

Before: ``--memory-budget 1e308`` or ``GEOADAPTERS_MEMORY_GB=1e300`` ended in an OverflowError traceback
(the budget in bytes is infinite as a float); ``GEOADAPTERS_MEMORY_GB=abc`` in a ValueError traceback.
"""

import pytest

import geoadapters
from geoadapters.errors import OptionError
from geoadapters.inference.request import PredictOptions
from tests.hostile.common import ADAPTER, refused
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    write_like(path, chip_pixels())
    return path


@pytest.mark.parametrize("value", ["1e308", "inf", "nan", "0", "-1"])
def test_an_unbounded_memory_budget_is_a_usage_error(value, scene, tmp_path, capsys):
    out = tmp_path / "out.tif"
    err = refused(["predict", scene, "-o", out, "--memory-budget", value], capsys, code=2)
    assert "--memory-budget" in err and "at most 1,048,576" in err and not out.exists()


@pytest.mark.parametrize(("value", "message"), [("1e300", "at most 1,048,576"), ("abc", "a number of GB")])
def test_an_unbounded_budget_in_the_environment_is_one_line(
    value, message, scene, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GEOADAPTERS_MEMORY_GB", value)
    out = tmp_path / "out.tif"
    err = refused(["predict", scene, "-o", out], capsys, code=2)  # OptionError: a usage error
    assert err.startswith("error: GEOADAPTERS_MEMORY_GB must be") and message in err and not out.exists()


def test_python_gets_an_option_error():
    with pytest.raises(OptionError, match=r"memory_budget_gb= must be .* got 1e\+300"):
        PredictOptions(memory_budget_gb=1e300)
    with pytest.raises(OptionError, match=r"memory_budget_gb= must be .* got inf"):
        geoadapters.load(ADAPTER, memory_budget_gb=float("inf"))
