"""``geoadapters predict --frames`` and multi-date stacks: the same maps as the library, one-line errors,
Dask workers, checks before torch is imported."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio

import geoadapters
from geoadapters.cli.main import main
from geoadapters.config import Inference
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from tests.frames import HLS_30M, SIZE, reference, shifted


@pytest.fixture(scope="module")
def model(frames_model):
    return frames_model


@pytest.fixture(scope="module")
def adapter(frames_adapter):
    return frames_adapter


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("shifted grid", r"the frames must share one grid: .*shifted.tif differs from .* in transform"),
        ("two frames", r"2 frames given .*; the model takes 3"),
        ("one date", r"a model of 3 frames takes 3 files \(--frames\) or a multi-date stack"),
        ("missing frame", r"missing.tif: no such file"),
    ],
)
def test_bad_frames_are_one_line_errors_with_no_output(case, message, tmp_path, frames, adapter, capsys):
    given = {
        "shifted grid": ["--frames", *map(str, frames[:2]), str(shifted(frames[0], tmp_path))],
        "two frames": ["--frames", *map(str, frames[:2])],
        "one date": [str(frames[0])],
        "missing frame": ["--frames", *map(str, frames[:2]), str(tmp_path / "missing.tif")],
    }[case]
    out = tmp_path / "out.tif"
    assert main(["predict", *given, "--adapter", str(adapter), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not out.exists() and not list(tmp_path.glob("*_pred.tif"))


def test_frames_given_to_a_single_date_model_are_refused(tmp_path, frames, capsys):
    single = geoadapters.create(
        "prithvi-v2-tiny-tl", "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=SIZE, overlap=0), depth=1,
    )  # fmt: skip
    folder = single.save_pretrained(tmp_path / "single")
    args = ["predict", "--frames", *map(str, frames), "--adapter", str(folder), "-o", str(tmp_path / "o.tif")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "3 frames given" in err and "the model takes 1" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.tif").exists()


def test_cli_frames_and_stack_write_the_same_map(tmp_path, frames, stack, adapter, model):
    def predict(scene, out, *extra):
        scene = ["--frames", *map(str, frames)] if scene == "frames" else [str(scene)]
        return main(["predict", *scene, "--adapter", str(adapter), "-o", str(tmp_path / out), *extra])

    proba = ["--probabilities", "--probability-dtype", "float32"]
    assert predict("frames", "frames.tif", *proba) == 0
    assert predict(stack, "stack.tif") == 0
    with rasterio.open(tmp_path / "frames.tif") as a, rasterio.open(tmp_path / "stack.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    with rasterio.open(tmp_path / "frames_proba.tif") as written:
        np.testing.assert_allclose(written.read(), reference(model), atol=1e-5)
    dates = ["--date", "2018-10-12", "--date", "2018-10-28", "--date", "2018-07-19"]  # days 285, 301, 200
    assert predict("frames", "dated.tif", *proba, *dates) == 0
    with rasterio.open(tmp_path / "dated_proba.tif") as written:
        np.testing.assert_allclose(written.read(), reference(model, days=(285, 301, 200)), atol=1e-5)
    assert predict(stack, "two.tif", *dates[:4]) == 2  # a date per frame, or none
    assert not (tmp_path / "two.tif").exists()


@pytest.mark.slow
def test_frames_on_a_dask_worker_equal_one_process(tmp_path, frames, adapter, model, capsys):
    pytest.importorskip("distributed")
    expected = predict_raster(frames, tmp_path / "one.tif", TorchRunner(model), probabilities=True)
    args = ["predict", "--frames", *map(str, frames), "--adapter", str(adapter), "--workers", "1"]
    args += ["-o", str(tmp_path / "many.tif"), "--probabilities"]
    assert main(args) == 0
    for one, many in [
        (expected.output, tmp_path / "many.tif"),
        (expected.probabilities, tmp_path / "many_proba.tif"),
    ]:
        with rasterio.open(one) as a, rasterio.open(many) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    with rasterio.open(tmp_path / "many.tif") as out:  # resume: the identity of every frame's file
        assert [f["path"] for f in json.loads(out.tags()["geoadapters_source"])] == [str(f) for f in frames]
    capsys.readouterr()
    assert main(args) == 0
    said = capsys.readouterr()
    assert "(up to date, skipped)" in said.out and "0 done, 1 skipped, 0 failed of 1 scenes" in said.err


def test_frames_on_other_grids_are_reported_before_torch_is_imported(tmp_path, frames, adapter):
    code = (
        "import sys; from geoadapters.cli.main import main; code = main(sys.argv[1:]); "
        "print('TORCH', 'torch' in sys.modules); sys.exit(code)"
    )
    argv = [
        "predict",
        "--frames",
        *frames[:2],
        shifted(frames[0], tmp_path),
        "--adapter",
        adapter,
        "-o",
        tmp_path,
    ]
    result = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True)
    assert result.returncode == 1 and "must share one grid" in result.stderr, result.stderr
    assert "TORCH False" in result.stdout
