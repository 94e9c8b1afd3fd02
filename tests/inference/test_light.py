"""The predict-only install: an exported model predicts, is described and vectorised with torch blocked.

The bundled adapter is exported by reference (its name, as ``geoadapters export --adapter`` takes a Hub
repo or published name), then ``geoadapters predict`` and ``info`` run in a subprocess whose imports of
torch, timm, peft and onnx fail as if they were not installed (a meta-path blocker put on PYTHONPATH
as ``sitecustomize``); its class map is compared with the torch path's, computed here. The exported
metadata are read back with the onnx package (an independent reader) and checked key by key against
the adapter's contract and the Deepness QGIS plugin's formats. scripts/check_light_install.sh does the
same in a real venv of ``pip install ".[cpu]"``.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
from click.testing import CliRunner

import geoadapters
from geoadapters.bands import band_indices
from geoadapters.cli.export import export_command
from geoadapters.errors import CheckpointError
from geoadapters.inference.onnx_metadata import DEEPNESS_KEYS, METADATA_KEY, read_metadata_props
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.runners import make_runner
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.palette import class_colors
from tests.conftest import S2_CHIP

DEEPNESS_STANDARDIZATION = ("standardization_mean", "standardization_std")
BLOCKED = ("torch", "timm", "peft", "onnx")
BLOCKER = f"""
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""
# what the subprocess runs: the CLI's predict and info, then the modules it had loaded
RUN = """
import sys
import geoadapters
from geoadapters.cli.main import main
from geoadapters.inference.runners import make_runner
codes = [main(args) for args in ({predict!r}, {info!r})]
report = geoadapters.predict_raster({scene!r}, {python_output!r}, make_runner({model!r}, "onnx"), tta="flips")
print("PYTHON", report.runner)
print("LOADED", sorted({{m.split(".")[0] for m in sys.modules}} & set({blocked!r})))
sys.exit(max(codes))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The bundled adapter exported by its name, as a user would: ``geoadapters export --adapter NAME``."""
    path = tmp_path_factory.mktemp("light") / "sen1floods11-tiny.onnx"
    result = CliRunner().invoke(export_command, ["--adapter", "sen1floods11-tiny", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join([str(blocker), str(Path(__file__).parents[2])])
    env = os.environ | {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_onnx_predict_and_info_run_without_torch_and_agree_with_torch(exported, tmp_path):
    output = tmp_path / "onnx.tif"
    predict = ["predict", str(S2_CHIP), "--adapter", str(exported), "-o", str(output), "--areas"]
    predict += ["--vector", "gpkg", "--probabilities"]
    python_output = str(tmp_path / "python.tif")
    code = RUN.format(
        predict=predict, info=["info", str(exported)], scene=str(S2_CHIP), python_output=python_output,
        model=str(exported), blocked=BLOCKED,
    )  # fmt: skip
    result = without_torch(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout and "onnxruntime" in result.stdout
    assert "sen1floods11-tiny" in result.stdout  # info's adapter line
    assert (tmp_path / "onnx_areas.csv").is_file() and (tmp_path / "onnx.gpkg").is_file()
    assert "PYTHON onnxruntime CPUExecutionProvider fp32, tta flips" in result.stdout
    reference = predict_raster(
        S2_CHIP, tmp_path / "torch.tif", TorchRunner(geoadapters.load(geoadapters.DEFAULT_ADAPTER), "cpu")
    )
    with rasterio.open(output) as onnx_map, rasterio.open(reference.output) as torch_map:
        assert (onnx_map.read(1) == torch_map.read(1)).mean() >= 0.999


def test_what_needs_torch_says_so_in_one_line(tmp_path):
    code = (
        "import sys; from geoadapters.cli.main import main; "
        f"sys.exit(main(['predict', {str(S2_CHIP)!r}, '--adapter', 'sen1floods11-tiny', '-o', "
        f"{str(tmp_path / 'out.tif')!r}]))"
    )
    result = without_torch(code, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: running sen1floods11-tiny with PyTorch (an exported .onnx file runs without) needs the "
        "'torch' extra: pip install 'geoadapters[torch]'"
    ]
    assert not (tmp_path / "out.tif").exists()


def test_exported_metadata_carry_the_contract_and_the_qgis_keys(exported):
    props = {p.key: p.value for p in onnx.load(str(exported), load_external_data=False).metadata_props}
    assert read_metadata_props(exported) == props  # our protobuf-only reader, against onnx's
    model = geoadapters.load(geoadapters.DEFAULT_ADAPTER)
    config, spec = model.config, model.config.input
    tile, overlap = config.inference.tile_size, config.inference.overlap
    assert set(props) == {
        METADATA_KEY,
        "tile_size",
        "precision",
        "output",
        "geoadapters_version",
        "class_colors",
        *DEEPNESS_KEYS,
    }
    # the whole config, the input contract included; the graph takes no scene metadata
    stored = type(config).from_dict(json.loads(props[METADATA_KEY]))
    assert stored == dataclasses.replace(config, input=dataclasses.replace(spec, metadata=()))
    assert (
        stored.input.bands == spec.bands and stored.input.mean == spec.mean and stored.input.std == spec.std
    )
    assert (stored.input.scale, stored.input.nodata, stored.input.gsd) == (spec.scale, spec.nodata, spec.gsd)
    assert (props["tile_size"], props["precision"], props["output"], props["geoadapters_version"]) == (
        str(tile),
        "fp32",
        "probabilities",
        geoadapters.__version__,
    )
    expected_colors = [
        "#{:02x}{:02x}{:02x}".format(*c[:3]) for c in class_colors(config.classes, config.colors)
    ]
    assert json.loads(props["class_colors"]) == expected_colors
    # the Deepness plugin's keys, each JSON as its ModelBase.get_metadata_* readers parse it
    assert str(json.loads(props["model_type"])).capitalize() == "Segmentor"
    names = json.loads(props["class_names"])
    assert [names[k] for k in sorted(names, key=int)] == list(config.classes)
    assert sorted(map(int, names)) == list(range(len(config.classes)))  # consecutive, as it requires
    assert spec.gsd is not None and float(json.loads(props["resolution"])) == pytest.approx(spec.gsd * 100)
    assert int(json.loads(props["tiles_size"])) == int(json.loads(props["tile_size"])) == tile
    assert int(json.loads(props["tiles_overlap"])) == round(100 * overlap / tile)
    # its dock unchecks the threshold and the median filter where these are 0 (bool(value != 0))
    assert float(json.loads(props["seg_thresh"])) == 0 and int(json.loads(props["seg_small_segment"])) == 0
    # Deepness feeds (value / 255 - mean) / std: with these, the band values as stored
    mean, std = (np.array(json.loads(props[k]), np.float32) for k in DEEPNESS_STANDARDIZATION)
    assert mean.shape == std.shape == (len(spec.bands),)
    stored_values = np.array([0.0, 1.0, 1234.0, 10000.0], np.float32)[:, None]
    fed = (np.float32(stored_values * (1.0 / 255.0)) - mean) / std
    np.testing.assert_allclose(fed, np.broadcast_to(stored_values, fed.shape), rtol=1e-6)


def test_a_file_that_is_no_onnx_model_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        read_metadata_props(bad)


def deepness_class_map(model_path: Path, tiles: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """The classes Deepness gives tiles (N, C, H, W) of band values, as its code does.

    Copied from Deepness (github.com/PUTvision/qgis-plugin-deepness, Apache-2.0, commit f450c63):
    ``ModelBase.preprocessing`` (x 1/255, then standardised with the metadata's mean and std) and
    ``MapProcessorSegmentation._process_tile`` (outputs under the probability threshold, 0 when it is
    off, set to 0, then the argmax).
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    mean = np.array([float(x) for x in json.loads(meta["standardization_mean"])], dtype=np.float32)
    std = np.array([float(x) for x in json.loads(meta["standardization_std"])], dtype=np.float32)
    nhwc = tiles.transpose(0, 2, 3, 1)
    batch = (np.float32(nhwc * 1.0 / 255.0) - mean) / std
    (result,) = session.run(None, {session.get_inputs()[0].name: np.transpose(batch, (0, 3, 1, 2))})
    result[result < threshold] = 0.0
    return np.argmax(result, axis=1)


def test_deepness_gives_the_class_map_of_predict(exported, tmp_path):
    """Deepness's preprocessing and thresholding of the file's output give predict's classes.

    With a graph of logits they did not: pixels whose logits are all negative became class 0 (98.8 %
    agreement on this scene in a headless QGIS 3.22 running Deepness's MapProcessorSegmentation).
    """
    output = tmp_path / "pred.tif"
    predict_raster(S2_CHIP, output, make_runner(str(exported), "onnx"))
    config = geoadapters.load(geoadapters.DEFAULT_ADAPTER).config
    tile = config.inference.tile_size
    with rasterio.open(S2_CHIP) as src, rasterio.open(output) as pred:
        order = [i + 1 for i in band_indices(src.descriptions, config.input.bands)]
        bands, classes = src.read(order).astype(np.float32), pred.read(1)
    rows, cols = bands.shape[1] // tile, bands.shape[2] // tile
    # the scene is whole tiles and the adapter's overlap 0: Deepness's tiles are predict's
    assert config.inference.overlap == 0 and bands.shape[1] % tile == bands.shape[2] % tile == 0
    grid = bands.reshape(-1, rows, tile, cols, tile).transpose(1, 3, 0, 2, 4)
    deepness = deepness_class_map(exported, grid.reshape(-1, len(order), tile, tile))
    deepness = deepness.reshape(rows, cols, tile, tile).transpose(0, 2, 1, 3).reshape(classes.shape)
    assert (deepness == classes).mean() >= 0.999
