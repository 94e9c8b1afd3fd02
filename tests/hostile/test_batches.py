"""Batches with hostile members: a corrupt scene among good ones, one stem in two folders, a resumed
batch. The good scenes finish, each failed one is named, the exit code says "partial" (3), and the
outputs equal a clean sequential run.

Before issue 24: a batch with one corrupt scene exited 1, as if nothing had been written.
"""

import numpy as np
import rasterio
from rasterio.windows import Window

from geoadapters.cli.main import EXIT_PARTIAL, main
from tests.hostile.common import refused
from tests.scenes import chip_pixels, write_like


def scenes(folder, names, corrupt=()):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        if name in corrupt:
            (folder / f"{name}.tif").write_bytes(b"II*\x00 not really a tiff")
        else:
            (folder / f"{name}.tif").unlink(missing_ok=True)  # GDAL would read the corrupt one first
            write_like(folder / f"{name}.tif", chip_pixels(Window(64 * i, 0, 128, 128)))
    return folder


def pixels(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_a_corrupt_scene_among_good_ones_is_a_partial_run(tmp_path, capsys):
    src = scenes(tmp_path / "in", ["a", "b", "c"], corrupt=("b",))
    assert main(["predict", str(src / "*.tif"), "-o", str(tmp_path / "out")]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].endswith(
        f"1 of 3 scenes failed: {src / 'b.tif'}"
    )
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == ["a_pred.tif", "c_pred.tif"]
    for name in "ac":  # each equals the scene predicted alone
        alone = tmp_path / f"{name}_alone.tif"
        assert main(["predict", str(src / f"{name}.tif"), "-o", str(alone)]) == 0
        np.testing.assert_array_equal(pixels(tmp_path / "out" / f"{name}_pred.tif"), pixels(alone))


def test_every_scene_failing_is_a_failed_run(tmp_path, capsys):
    src = scenes(tmp_path / "in", ["a", "b"], corrupt=("a", "b"))
    assert main(["predict", str(src / "*.tif"), "-o", str(tmp_path / "out")]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: 2 of 2 scenes failed")


def test_one_stem_in_two_folders_is_refused_before_any_prediction(tmp_path, capsys):
    one, two = scenes(tmp_path / "one", ["s"]), scenes(tmp_path / "two", ["s"])
    err = refused(["predict", one / "s.tif", two / "s.tif", "-o", tmp_path / "out"], capsys)
    assert (
        "s_pred.tif" in err and not list((tmp_path / "out").glob("*.tif"))
        if (tmp_path / "out").exists()
        else True
    )


def test_a_resumed_batch_equals_a_clean_sequential_run(tmp_path, capsys):
    src = scenes(tmp_path / "in", ["a", "b", "c"], corrupt=("b",))
    assert main(["predict", str(src / "*.tif"), "-o", str(tmp_path / "out")]) == EXIT_PARTIAL
    (src / "b.tif").unlink()
    write_like(src / "b.tif", chip_pixels(Window(64, 0, 128, 128)))  # b repaired; a and c unchanged
    assert main(["predict", str(src / "*.tif"), "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err.strip().endswith("1 done, 2 skipped, 0 failed of 3 scenes")
    for name in "abc":
        clean = tmp_path / f"{name}_clean.tif"
        assert main(["predict", str(src / f"{name}.tif"), "-o", str(clean)]) == 0
        np.testing.assert_array_equal(pixels(tmp_path / "out" / f"{name}_pred.tif"), pixels(clean))
