"""``geoadapters push`` against the Hub API server on 127.0.0.1: the round trip, and refusals."""

import json

import torch

import geoadapters
from geoadapters.cli.main import main
from geoadapters.hub.folder import read_config
from geoadapters.stac.model import mlm_item
from tests.conftest import TEST_BASE, perturbed_model

REPO = "testorg/prithvi-test-sen1floods11-lora"


def saved(tmp_path, checkpoint):
    model = perturbed_model("lora", "linear", checkpoint)
    return model, model.save_pretrained(tmp_path / "sen1floods11-lora")


def test_pushed_adapter_loads_by_commit_and_short_name(fake_hub, tmp_path, checkpoint, capsys, monkeypatch):
    model, folder = saved(tmp_path, checkpoint)
    assert main(["push", str(folder), "--repo", REPO]) == 0
    commit = capsys.readouterr().out.strip()
    assert fake_hub.repos[REPO].refs["main"] == commit
    assert sorted(fake_hub.repos[REPO].commits[commit]) == sorted(p.name for p in folder.iterdir())
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        expected = model(x)
        pinned = geoadapters.load(TEST_BASE, f"{REPO}@{commit}", checkpoint=checkpoint)
        assert torch.allclose(pinned(x), expected, atol=1e-6)
        monkeypatch.setenv("GEOADAPTERS_ORG", "testorg")
        short = geoadapters.load(TEST_BASE, "sen1floods11-lora", checkpoint=checkpoint)
        assert torch.allclose(short(x), expected, atol=1e-6)


def test_push_to_a_branch_of_a_private_repo(fake_hub, tmp_path, checkpoint, capsys):
    _, folder = saved(tmp_path, checkpoint)
    commit = geoadapters.push(folder, REPO, private=True, revision="dev", message="first try")
    repo = fake_hub.repos[REPO]
    assert repo.private and repo.refs["dev"] == commit and "main" not in repo.refs
    loaded = geoadapters.load(TEST_BASE, f"{REPO}@dev", checkpoint=checkpoint)
    assert loaded.config.method.name == "lora"


def test_push_refuses_folders_that_do_not_load(fake_hub, tmp_path, checkpoint, capsys):
    _, folder = saved(tmp_path, checkpoint)
    config = json.loads((folder / "geoadapter.json").read_text())
    config["method"]["settings"]["r"] = 8  # the tensors are rank 16
    (folder / "geoadapter.json").write_text(json.dumps(config))
    assert main(["push", str(folder), "--repo", REPO]) == 1
    assert "error:" in capsys.readouterr().err
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 10)
    assert main(["push", str(folder), "--repo", REPO]) == 1
    assert main(["push", str(tmp_path / "missing"), "--repo", REPO]) == 1
    _, other = saved(tmp_path / "b", checkpoint)
    assert main(["push", str(other), "--repo", "not a repo id"]) == 1
    assert fake_hub.repos == {}


def test_push_uploads_an_mlm_json_that_describes_the_config_as_edited(fake_hub, tmp_path, checkpoint, capsys):
    _, folder = saved(tmp_path, checkpoint)
    config = json.loads((folder / "geoadapter.json").read_text())
    config["classes"] = ["dry land", "flood water"]  # renamed by hand
    (folder / "geoadapter.json").write_text(json.dumps(config))
    assert main(["push", str(folder), "--repo", REPO]) == 0
    commit = capsys.readouterr().out.strip()
    uploaded = json.loads(fake_hub.repos[REPO].commits[commit]["mlm.json"])
    assert uploaded == mlm_item(read_config(folder))
    (output,) = uploaded["properties"]["mlm:output"]
    assert [c["description"] for c in output["classification:classes"]] == ["dry land", "flood water"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(fake_hub.repos[REPO].commits[commit])
