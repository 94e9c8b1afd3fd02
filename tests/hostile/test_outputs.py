"""Outputs put where they cannot go: a tile size of 100 000 px, names over 255 bytes, a path below a file,
a read-only folder, an output that exists. Each is a one-line error before any work, nothing is written
and no earlier output is lost.

Before issue 24: export --tile-size 100000 died allocating 894 GiB (MemoryError traceback); a 300-character
output or scene name ended in OSError tracebacks; export below a file in a FileExistsError traceback.
"""

import os

import pytest
import rasterio
from rasterio.windows import Window

import geoadapters
from geoadapters.cli.main import main
from geoadapters.errors import OptionError, OutputError
from geoadapters.inference.export import export_onnx
from tests.hostile.common import ADAPTER, refused
from tests.scenes import chip_pixels, write_like

LONG = "a" * 300


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    write_like(path, chip_pixels(Window(0, 0, 128, 128)))
    return path


def test_export_bounds_the_tile_size_before_allocating(tmp_path, capsys):
    out = tmp_path / "model.onnx"
    err = refused(["export", "--adapter", ADAPTER, "-o", out, "--tile-size", 100_000], capsys, code=2)
    assert "--tile-size" in err and "4096" in err
    assert not out.exists()
    model = geoadapters.load(ADAPTER)
    with pytest.raises(OptionError, match=r"tile_size= must be between 1 and 4096 pixels, got 100,000"):
        export_onnx(model, out, tile_size=100_000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "export"])
def test_an_output_below_a_regular_file_is_refused(command, tmp_path, scene, capsys):
    (tmp_path / "file").write_text("keep")
    out = tmp_path / "file" / ("x.onnx" if command == "export" else "out")
    args = (
        ["export", "--adapter", ADAPTER, "-o", out] if command == "export" else ["predict", scene, "-o", out]
    )
    err = refused(args, capsys)
    assert "is a file, not a folder" in err
    assert (tmp_path / "file").read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["file"]


@pytest.mark.parametrize("command", ["predict", "export"])
def test_an_output_name_over_255_bytes_is_refused(command, tmp_path, scene, capsys):
    out = tmp_path / (LONG + (".onnx" if command == "export" else ".tif"))
    args = (
        ["export", "--adapter", ADAPTER, "-o", out] if command == "export" else ["predict", scene, "-o", out]
    )
    err = refused(args, capsys)
    assert "file systems take 255" in err and len(err) < 400
    assert list(tmp_path.iterdir()) == []


def test_an_export_output_naming_a_folder_is_refused(tmp_path, capsys):
    err = refused(["export", "--adapter", ADAPTER, "-o", f"{tmp_path / 'models'}/"], capsys, code=2)
    assert "names a folder" in err and list(tmp_path.iterdir()) == []  # before: a file named models


def test_a_scene_name_over_255_bytes_is_a_failed_scene(tmp_path, capsys):
    err = refused(["predict", tmp_path / f"{LONG}.tif", "-o", tmp_path / "out"], capsys)
    assert "file name too long" in err
    assert list(tmp_path.iterdir()) == []


def test_a_staged_output_whose_folder_became_a_file_is_one_error(tmp_path):
    from geoadapters._staging import staged_file

    (tmp_path / "sub").write_text("x")
    with (
        pytest.raises(OutputError, match="is a file, not a folder"),
        staged_file(tmp_path / "sub" / "a.onnx"),
    ):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_read_only_folder_is_refused_before_any_work(command, tmp_path, scene, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        out = folder / ("x.onnx" if command == "export" else "out")
        args = (
            ["export", "--adapter", ADAPTER, "-o", out]
            if command == "export"
            else ["predict", scene, "-o", out]
        )
        assert "is not writable" in refused(args, capsys)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_an_existing_output_is_kept(tmp_path, scene, capsys):
    out = tmp_path / "pred.tif"
    out.write_bytes(b"earlier output")
    err = refused(["predict", scene, "-o", out], capsys)
    assert "exists" in err and out.read_bytes() == b"earlier output"


def test_a_good_output_is_still_written(tmp_path, scene, capsys):
    out = tmp_path / "pred.tif"  # the control: the same command with a writable output succeeds
    assert main(["predict", str(scene), "-o", str(out)]) == 0
    with rasterio.open(out) as ds:
        assert ds.shape == (128, 128)
