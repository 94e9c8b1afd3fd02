"""``geoadapters predict`` as a user runs it: scenes and folders, one-line errors, warnings, ONNX files,
checks before torch is imported."""

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geoadapters.cli.main import EXIT_PARTIAL, main
from geoadapters.inference.export import export_onnx
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.metadata import GsdWarning
from tests.conftest import HLS_CHIP, S2_CHIP, TEST_BASE, perturbed_model
from tests.scenes import chip_pixels, write_like

HEAVY = ("peft", "transformers", "torchvision", "timm")  # what a merged Prithvi LoRA needs none of


@pytest.fixture(scope="module")
def model(checkpoint):
    return perturbed_model("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    return write_like(tmp_path_factory.mktemp("scenes") / "small.tif", chip_pixels(Window(100, 0, 150, 130)))


def test_cli_predicts_several_scenes_into_a_folder(tmp_path, adapter, checkpoint, capsys):
    for name in ("a", "b"):
        write_like(tmp_path / f"{name}.tif", chip_pixels(Window(0, 0, 100, 100)))
    args = ["--model", TEST_BASE, "--adapter", str(adapter), "--checkpoint", str(checkpoint)]
    code = main(["predict", str(tmp_path / "*.tif"), *args, "-o", str(tmp_path / "out"), "--batch-size", "2"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".tif") == [
        "a_pred.tif",
        "b_pred.tif",
    ]
    assert "a_pred.tif  (4/4 tiles" in capsys.readouterr().out


BAD_INPUTS = {
    "missing file": ("missing.tif", [], "no such file"),
    "empty file": ("empty.tif", [], "is empty"),
    "corrupt file": ("corrupt.tif", [], "not a raster GDAL can read"),
    "truncated GeoTIFF": ("truncated.tif", [], "not a raster GDAL can read|reading rows"),
    "no CRS": ("nocrs.tif", [], "has no CRS"),
    "unnamed bands, wrong count": ("ten.tif", [], "10 bands without usable descriptions"),
    "unknown band name": ("ten.tif", ["--bands", "A,B,C,D,E,F,G,H,I,J"], "unknown band 'A'"),
    "too few band names": ("ten.tif", ["--bands", "B02,B03"], "names 2 bands but the file has 10"),
    "band number out of range": (
        "ten.tif",
        ["--bands", "1,2,3,4,5,11"],
        r"band number\(s\) \[11\] do not exist",
    ),
    "needed band missing": ("rgb.tif", [], "missing band"),
    "all nodata": ("blank.tif", [], "no valid pixels"),
    "complex pixels": ("complex.tif", [], "real-valued bands are needed"),
    "overlap over half a tile": ("ok.tif", ["--overlap", "40"], "overlap must be between 0 and half"),
    "output exists": ("ok.tif", ["-o", "{tmp}/exists.tif"], "exists; --overwrite replaces it"),
    "output not writable": ("ok.tif", ["-o", "/proc/geoadapters/out.tif"], "cannot write into"),
    "adapter of another base": (
        "ok.tif",
        ["--model", "prithvi-100"],
        f"made for {TEST_BASE}, not prithvi-100",
    ),
    "truncated adapter weights": ("ok.tif", ["--adapter", "{tmp}/broken"], "corrupt or truncated"),
    "unknown base": ("ok.tif", ["--model", "prithvi-3000"], "no base model 'prithvi-3000'"),
}


@pytest.fixture
def bad_inputs(tmp_path, adapter):
    pixels = chip_pixels(Window(0, 0, 64, 64))
    write_like(tmp_path / "ok.tif", pixels)
    (tmp_path / "empty.tif").touch()
    (tmp_path / "corrupt.tif").write_bytes(b"II*\x00 this is not a tiff" * 10)
    data = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "truncated.tif").write_bytes(data[: len(data) // 3])
    write_like(tmp_path / "nocrs.tif", pixels, crs=None)
    write_like(tmp_path / "ten.tif", pixels[:10], descriptions=[""] * 10)
    write_like(tmp_path / "rgb.tif", pixels[[3, 2, 1]], descriptions=["B4", "B3", "B2"])
    write_like(tmp_path / "blank.tif", np.zeros_like(pixels))
    write_like(
        tmp_path / "complex.tif",
        pixels[:6].astype("complex64"),
        descriptions=["B2", "B3", "B4", "B8A", "B11", "B12"],
    )
    write_like(tmp_path / "exists.tif", pixels[:1])
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in adapter.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return tmp_path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_with_no_output(case, bad_inputs, adapter, checkpoint, capsys):
    scene, extra, message = BAD_INPUTS[case]
    args = ["predict", str(bad_inputs / scene), "--model", TEST_BASE, "--adapter", str(adapter),
            "--checkpoint", str(checkpoint)]  # fmt: skip
    extra = [e.format(tmp=bad_inputs) for e in extra]
    for flag in ("--model", "--adapter"):
        if flag in extra:
            args[args.index(flag) + 1] = extra.pop(extra.index(flag) + 1)
            extra.remove(flag)
    before = sorted(p.name for p in bad_inputs.iterdir())
    assert main(args + extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err
    assert sorted(p.name for p in bad_inputs.iterdir()) == before


def test_cli_without_model_writes_every_output(tmp_path, adapter, checkpoint, small_scene, capsys):
    args = ["predict", str(small_scene), "--adapter", str(adapter), "--checkpoint", str(checkpoint)]
    args += ["-o", str(tmp_path / "m.tif"), "--probabilities", "--vector", str(tmp_path / "m.geojson")]
    assert main(args) == 0, capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["m.geojson", "m.tif", "m.tif.aux.xml", "m_proba.tif"]
    data = json.loads((tmp_path / "m.geojson").read_text())
    assert {f["properties"]["class"] for f in data["features"]} <= {"not water", "water"}


def test_a_scene_at_another_gsd_gets_a_warning(tmp_path, model, adapter, checkpoint, capsys):
    with pytest.warns(GsdWarning, match="30 m pixels; the adapter was trained at 10 m"):
        predict_raster(
            HLS_CHIP, tmp_path / "hls.tif", TorchRunner(model), bands=["2", "3", "4", "5", "6", "7"]
        )
    args = ["predict", str(HLS_CHIP), "--adapter", str(adapter), "--checkpoint", str(checkpoint),
            "--bands", "2,3,4,5,6,7", "-o", str(tmp_path / "cli.tif")]  # fmt: skip
    assert main(args) == 0
    assert "warning: " in capsys.readouterr().err


def test_onnx_file_is_a_model_and_the_onnx_export_is_cached(tmp_path, model, small_scene, caplog):
    from geoadapters.cache import cache_dir
    from geoadapters.inference.runners import make_runner

    onnx_path = export_onnx(model, tmp_path / "model.onnx").path
    out = tmp_path / "out"
    common = [str(small_scene), "--probabilities", "--probability-dtype", "float32"]
    assert main(["predict", *common, "--adapter", str(onnx_path), "-o", str(out / "onnx.tif")]) == 0
    torch_report = predict_raster(
        small_scene, out / "torch.tif", TorchRunner(model), probabilities=True, probability_dtype="float32"
    )
    with rasterio.open(out / "onnx_proba.tif") as a, rasterio.open(torch_report.probabilities) as b:
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-4)
    assert main(["predict", *common, "--adapter", str(onnx_path), "--runtime", "torch"]) == 1

    caplog.set_level("INFO", logger="geoadapters")
    first = make_runner(model, runtime="onnx", device="cpu")
    [folder] = (cache_dir() / "onnx").iterdir()
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    caplog.clear()
    second = make_runner(model, runtime="onnx", device="cpu")
    assert "using the cached ONNX export" in caplog.text and "exported to ONNX" not in caplog.text
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp
    assert len(list((cache_dir() / "onnx").iterdir())) == 1
    raw = chip_pixels(Window(0, 0, 64, 64))[[1, 2, 3, 8, 11, 12]][None].astype("float32")
    np.testing.assert_array_equal(first(raw), second(raw))


def test_bad_input_is_reported_before_torch_is_imported(tmp_path, adapter):
    script = (
        "import sys; from geoadapters.cli.main import main; "
        f"code = main(['predict', {str(tmp_path / 'missing.tif')!r}, '--adapter', {str(adapter)!r}]); "
        "print(code, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["1", "False"], result.stderr
    assert result.stderr.strip() == f"error: {tmp_path / 'missing.tif'}: no such file"


def test_a_batch_goes_on_past_a_bad_scene_and_ends_with_a_summary(tmp_path, adapter, checkpoint, capsys):
    write_like(tmp_path / "a.tif", chip_pixels(Window(0, 0, 80, 80)))
    (tmp_path / "b.tif").write_bytes(b"not a tiff")
    write_like(tmp_path / "c.tif", chip_pixels(Window(0, 0, 80, 80)))
    args = ["predict", str(tmp_path / "*.tif"), "--adapter", str(adapter), "--checkpoint", str(checkpoint)]
    assert main([*args, "-o", str(tmp_path / "out")]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "b.tif is not a raster GDAL can read" in err and "2 done, 0 skipped, 1 failed of 3 scenes" in err
    assert err.strip().endswith(f"1 of 3 scenes failed: {tmp_path / 'b.tif'}")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.tif")) == ["a_pred.tif", "c_pred.tif"]


def test_predict_with_a_prithvi_lora_adapter_imports_neither_peft_transformers_nor_torchvision(
    tmp_path, checkpoint
):
    folder = perturbed_model("lora", "linear", checkpoint).save_pretrained(tmp_path / "adapter")
    code = (
        "import sys, tests.conftest; from geoadapters.cli.main import main; code = main(sys.argv[1:]); "
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(code)"
    )
    argv = ["predict", S2_CHIP, "--adapter", folder, "--checkpoint", checkpoint, "-o", tmp_path / "out.tif"]
    result = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.tif").is_file()
    assert "HEAVY []" in result.stdout, result.stdout


def test_the_command_ends_with_its_exit_code_and_its_one_line_error(tmp_path):
    command = [sys.executable, "-m", "geoadapters.cli.main", "predict", str(tmp_path / "missing.tif")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error:") and "missing.tif" in result.stderr


def test_a_log_gets_a_progress_line_every_tenth_of_the_tiles(tmp_path, capsys):
    scene = write_like(tmp_path / "s.tif", chip_pixels(Window(0, 0, 512, 512)))
    code = main(["predict", str(scene), "--tile-size", "64", "--overlap", "0", "--batch-size", "1"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.endswith(" tiles")]
    assert code == 0
    assert lines == [f"s.tif: {n}/64 tiles" for n in (6, 12, 18, 24, 30, 36, 42, 48, 54, 60, 64)]
