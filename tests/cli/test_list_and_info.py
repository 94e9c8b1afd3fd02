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


def test_info_describes_a_base(capsys):
    assert main(["info", "prithvi-300"]) == 0
    out = capsys.readouterr().out
    assert "ibm-nasa-geospatial/Prithvi-EO-2.0-300M" in out and "NIR_NARROW" in out


def test_info_describes_an_adapter_folder(tmp_path, capsys):
    import geoadapters

    model = geoadapters.create(
        "prithvi-300", "lora", classes=["a", "b"], pretrained=False, depth=2, embed_dim=64, num_heads=4
    )
    folder = model.save_pretrained(tmp_path / "adapter")
    assert main(["info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["method"]["name"] == "lora"
    assert info["parameters"] == sum(t.numel() for t in model.adapter_state_dict().values())
    assert info["loads"].startswith("it was trained on randomly initialised prithvi-300 weights")
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "lora  r=16" in out and "loads    no: it was trained on randomly initialised" in out


def test_info_on_a_short_name_without_base_says_it_needs_one(capsys):
    assert main(["info", "burn_scars-lora"]) == 1
    assert "is a short adapter name (<dataset>-<method>): give the base model" in capsys.readouterr().err


def test_list_adapters_on_the_hub(fake_hub, capsys):
    fake_hub.add_files("geoadapters/prithvi-300-burn_scars-lora", {"geoadapter.json": b"{}"})
    fake_hub.add_files("geoadapters/clay-v1-burn_scars-lora", {"geoadapter.json": b"{}"})
    assert main(["list", "--adapters", "--model", "prithvi-300"]) == 0
    assert capsys.readouterr().out.split() == ["geoadapters/prithvi-300-burn_scars-lora"]


def test_offline_list_and_info_fail_fast_and_say_why(capsys):
    # the autouse fixture points the Hub at 127.0.0.1:9, where nothing listens: one refused connection
    # decides it (huggingface_hub alone retries for ~30 s), and downloads use the cache only
    assert main(["list", "--adapters"]) == 1
    assert main(["info", "org/some-adapter"]) == 1
    err = capsys.readouterr().err
    assert "cannot be reached (offline or no network)" in err  # the listing
    # the reference: what was looked for, and no promise that it exists
    assert (
        "the Hub repository org/some-adapter is not in the local cache, and the Hub cannot be reached" in err
    )
    assert "see whether it is published" in err and "Run once" not in err


def test_a_short_name_that_is_not_published_says_so(fake_hub, capsys):
    assert main(["info", "burn_scars-lora", "--model", "prithvi-300"]) == 1
    err = capsys.readouterr().err
    assert "'burn_scars-lora' resolves to nothing: no local folder or .onnx file of that name" in err
    assert "the Hub repository geoadapters/prithvi-300-burn_scars-lora" in err
    assert "does not exist on the Hub: no such repository is published" in err
