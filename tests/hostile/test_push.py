"""`push` of folders holding more than an adapter, against a Hub server on 127.0.0.1: only the
adapter's own files are uploaded, never what a symlink points to; odd repo ids and invalid configs are
refused before any request.

Before issue 24: push uploaded every file of the folder (logs, a 5 MB checkpoint left there, a symlink's
target such as /etc/hostname).
"""

import json
import shutil

import pytest

from geoadapters.hub.folder import ADAPTER_FILES
from tests.hostile.common import ADAPTER, refused

REPO = "someone/prithvi-v2-tiny-tl-sen1floods11-full"


@pytest.fixture
def folder(tmp_path):
    dest = tmp_path / "adapter"
    shutil.copytree(ADAPTER, dest)
    return dest


def test_only_the_adapters_own_files_are_uploaded(fake_hub, folder, tmp_path, capsys):
    (folder / "training.log").write_text("secret paths of the trainer's machine")
    (folder / "last.ckpt").write_bytes(b"\0" * (5 << 20))
    (folder / "hostname").symlink_to("/etc/hostname")
    from geoadapters.cli.main import main

    assert main(["push", str(folder), "--repo", REPO]) == 0
    repo = fake_hub.repos[REPO]
    files = repo.commits[repo.refs["main"]]
    assert sorted(files) == sorted(n for n in ADAPTER_FILES if (folder / n).exists())
    assert files["geoadapter.json"] == (folder / "geoadapter.json").read_bytes()


def test_a_symlinked_adapter_file_is_refused(fake_hub, folder, tmp_path, capsys):
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to("/etc/hostname")
    err = refused(["push", folder, "--repo", REPO], capsys)
    assert "README.md is a symlink" in err and REPO not in fake_hub.repos


@pytest.mark.parametrize("repo", ["../etc", "a/b/c", "org/" + "x" * 200, "org/na me", "org/..", "org"])
def test_odd_repo_ids_are_refused_before_any_request(fake_hub, folder, repo, capsys):
    assert "no Hub repository id" in refused(["push", folder, "--repo", repo], capsys)
    assert fake_hub.repos == {}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["inference"].update(tile_size=10**6), "inference.tile_size"),
        (lambda d: d.update(metrics=[1]), "metrics must be an object"),
        (lambda d: d["input"].update(nodata_fill=float("nan")), "nodata_fill must be a finite number"),
    ],
)
def test_invalid_configs_are_refused_before_any_request(fake_hub, folder, edit, message, capsys):
    data = json.loads((folder / "geoadapter.json").read_text())
    edit(data)
    (folder / "geoadapter.json").write_text(json.dumps(data))
    assert message in refused(["push", folder, "--repo", REPO], capsys)
    assert fake_hub.repos == {}
