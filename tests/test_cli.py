import json
import subprocess
import sys

from geoadapters import list_models
from geoadapters.cli.main import main


def test_list_shows_every_base(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_models())


def test_list_json_is_machine_readable(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_models()
    assert rows[0]["bands"] == ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "geoadapters.cli.main", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "geoadapters, version" in result.stdout
