"""Several adapters on one base in one run: the same class maps as one run each, the scene read once."""

import numpy as np
import pytest
import rasterio
import rasterio.io
from rasterio.windows import Window

import geoadapters
from geoadapters.adapter_set import AdapterSet
from geoadapters.cli.main import main
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.inference.scenes import predict_many
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import TEST_BASE, perturbed_model
from tests.scenes import chip_pixels, write_like

METHODS = (("lora", "linear"), ("vpt", "linear"), ("linear_probe", "linear"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory, checkpoint):
    root = tmp_path_factory.mktemp("adapters")
    return {
        method: perturbed_model(method, head, checkpoint).save_pretrained(root / f"{method}-adapter")
        for method, head in METHODS
    }


@pytest.fixture
def scene(tmp_path):
    return write_like(tmp_path / "scene.tif", chip_pixels(Window(0, 0, 150, 130)))


@pytest.fixture
def reads(monkeypatch):
    """Windows read from files, counted at rasterio's boundary."""
    counted = {"reads": 0}
    real = rasterio.io.DatasetReader.read

    def counting(self, *args, **kwargs):
        counted["reads"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", counting)
    return counted


def _class_map(path):
    with rasterio.open(path) as src:
        return src.read(1)


def _single(folder, scene, output, checkpoint, **options):
    model = geoadapters.load(folder, checkpoint=checkpoint, merged=True)
    return predict_raster(scene, output, TorchRunner(model, "cpu"), **options)


def test_three_adapters_in_one_pass_equal_three_runs_and_read_the_scene_once(
    tmp_path, folders, scene, checkpoint, reads
):
    singles = {}
    for method, folder in folders.items():
        before = reads["reads"]
        _single(folder, scene, tmp_path / f"single-{method}.tif", checkpoint, probabilities=True)
        single_reads = reads["reads"] - before
        singles[method] = _class_map(tmp_path / f"single-{method}.tif")
    resident = AdapterSet(TEST_BASE, checkpoint=checkpoint)
    for method, folder in folders.items():
        resident.add(method, folder)
    before = reads["reads"]
    reports = resident.predict_raster(scene, tmp_path / "set", device="cpu", probabilities=True)
    assert reads["reads"] - before == single_reads  # one scene's reads, not three
    assert set(reports) == set(folders)
    for method in folders:
        assert reports[method].output == tmp_path / "set" / f"scene_{method}_pred.tif"
        assert reports[method].probabilities == tmp_path / "set" / f"scene_{method}_pred_proba.tif"
        assert np.array_equal(_class_map(reports[method].output), singles[method]), method
    assert len({_class_map(r.output).tobytes() for r in reports.values()}) == 3  # three different models


def test_the_command_writes_one_output_set_per_adapter_equal_to_single_runs(
    tmp_path, folders, scene, checkpoint, capsys, reads
):
    common = ["--model", TEST_BASE, "--checkpoint", str(checkpoint), "--device", "cpu"]
    for method, folder in folders.items():
        out = tmp_path / "single" / f"{method}.tif"
        before = reads["reads"]
        assert main(["predict", str(scene), "--adapter", str(folder), *common, "-o", str(out)]) == 0
        single_reads = reads["reads"] - before
    adapters = [arg for folder in folders.values() for arg in ("--adapter", str(folder))]
    outputs = ["-o", str(tmp_path / "many"), "--areas", "--vector", "gpkg"]
    argv = ["predict", str(scene), *adapters, *common, *outputs]
    before = reads["reads"]
    assert main(argv) == 0, capsys.readouterr().err
    assert reads["reads"] - before == single_reads  # checks and tiles: the scene read as often as by one run
    for method in folders:
        label = f"{method}-adapter"
        made = tmp_path / "many" / f"scene_{label}_pred.tif"
        assert np.array_equal(_class_map(made), _class_map(tmp_path / "single" / f"{method}.tif")), method
        assert (tmp_path / "many" / f"scene_{label}_pred.gpkg").is_file()
        assert (tmp_path / "many" / f"scene_{label}_pred_areas.csv").is_file()
    capsys.readouterr()
    assert main(argv) == 0  # resumed: every adapter's outputs are up to date
    assert capsys.readouterr().out.count("up to date, skipped") == 3


@pytest.mark.slow
def test_several_adapters_on_a_dask_cluster_split_in_blocks_equal_single_runs(
    tmp_path, folders, scene, checkpoint
):
    distributed = pytest.importorskip("distributed")
    chosen = {m: folders[m] for m in ("lora", "linear_probe")}
    refs = [ModelRef(str(folder), TEST_BASE, str(checkpoint), device="cpu") for folder in chosen.values()]
    options = PredictOptions(probabilities=True)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
            preload=["tests.conftest"],  # the workers know the test base
        ) as local,
        distributed.Client(local) as client,
    ):  # fmt: skip
        report = predict_many([scene], refs, tmp_path / "many", options=options, client=client, split=2)
    assert report.count("done") == 2, report.failed
    for method, folder in chosen.items():
        single = _single(folder, scene, tmp_path / f"{method}.tif", checkpoint)
        made = tmp_path / "many" / f"scene_{method}-adapter_pred.tif"
        assert np.array_equal(_class_map(made), _class_map(single.output)), method
        assert (tmp_path / "many" / f"scene_{method}-adapter_pred_proba.tif").is_file()


def test_test_time_augmentation_and_probabilities_of_a_set_equal_single_runs(
    tmp_path, folders, scene, checkpoint
):
    resident = AdapterSet(TEST_BASE, checkpoint=checkpoint)
    for method in ("vpt", "linear_probe"):
        resident.add(method, folders[method])
    reports = resident.predict_raster(scene, tmp_path, device="cpu", tta="flips", probabilities=True)
    for method, report in reports.items():
        single = _single(
            folders[method], scene, tmp_path / f"{method}.tif", checkpoint, tta="flips", probabilities=True
        )
        assert np.array_equal(_class_map(report.output), _class_map(single.output)), method
        with rasterio.open(report.probabilities) as many, rasterio.open(single.probabilities) as one:
            difference = np.abs(many.read().astype(int) - one.read().astype(int))
        assert difference.max() <= 1, method  # percent, rounded: at most one step apart


def test_the_summary_of_a_run_of_several_adapters_counts_scenes_and_outputs(tmp_path, folders, checkpoint):
    scenes = [write_like(tmp_path / f"{n}.tif", chip_pixels(Window(0, 0, 64, 64))) for n in "ab"]
    scenes.append(tmp_path / "missing.tif")
    refs = [ModelRef(str(folders[m]), TEST_BASE, str(checkpoint), device="cpu") for m in ("lora", "vpt")]
    report = predict_many(scenes, refs, tmp_path / "out")
    assert report.summary() == "3 scenes x 2 adapters: 4 done, 0 skipped, 2 failed of 6 outputs"
    assert [r.source for r in report.failed] == [str(scenes[2])] * 2
    again = predict_many(scenes[:2], refs, tmp_path / "out")
    assert again.summary() == "2 scenes x 2 adapters: 0 done, 4 skipped, 0 failed of 4 outputs"
    assert (
        predict_many(scenes[:1], refs[:1], tmp_path / "one").summary()
        == "1 done, 0 skipped, 0 failed of 1 scenes"
    )
