"""Many scenes on a Dask LocalCluster of 2 worker processes: the same outputs as one process, failures
kept to their scene, resume, and a worker killed mid-run."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import torch
from rasterio.windows import Window

import geoadapters
from geoadapters.errors import OutputExistsError
from geoadapters.inference.jobs import plan_jobs
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.inference.resume import RUN_TAG, SOURCE_TAG
from geoadapters.inference.scenes import RunEvents, predict_many
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import S2_CHIP, TEST_BASE, perturbed_model

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # two worker processes that import torch: ~20-40 s on 2 busy cores

# (column, row) of 128 x 128 windows of the S2 chip: one scene each.
WINDOWS = [(0, 0), (200, 40), (384, 384), (100, 300)]


@pytest.fixture(scope="module")
def adapter(checkpoint, tmp_path_factory):
    model = perturbed_model("lora", "linear", checkpoint)
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes of 1 thread, which know the test base (preloaded tests.conftest)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            preload=["tests.conftest"], memory_limit="4GiB",
        ) as local,
        distributed.Client(local) as client,
    ):  # fmt: skip
        yield client


def scenes(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    with rasterio.open(S2_CHIP) as src:
        for i, (x, y) in enumerate(WINDOWS):
            window = Window(x, y, 128, 128)
            profile = src.profile | {"width": 128, "height": 128, "transform": src.window_transform(window)}
            path = folder / f"scene{i}.tif"
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(src.read(window=window))
                dst.descriptions = src.descriptions
            paths.append(path)
    return paths


def sequential(sources, folder, adapter, checkpoint, **options):
    """The scenes one after another in this process, with the workers' torch threads (cores / 2)."""
    runner = TorchRunner(geoadapters.load(TEST_BASE, adapter, checkpoint=checkpoint, merged=True))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        for source in sources:
            predict_raster(source, folder / f"{source.stem}_pred.tif", runner, **options)
    finally:
        torch.set_num_threads(threads)


class Seen(RunEvents):
    """The results and the cluster's tile counts a run tells."""

    def __init__(self):
        self.results, self.counts = [], []

    def scene(self, result):
        self.results.append(result)

    def tiles(self, job, done, total):
        self.counts.append((done, total))


def pixels(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    with rasterio.open(path) as src:
        return src.read(), src.tags()


def test_scenes_on_two_workers_equal_one_process_and_resume(tmp_path, adapter, checkpoint, cluster):
    sources = scenes(tmp_path / "in")
    corrupt = tmp_path / "in" / "corrupt.tif"
    corrupt.write_bytes(sources[0].read_bytes()[:3000])  # a header whose tiles are cut off
    ref = ModelRef(str(adapter), TEST_BASE, str(checkpoint))
    seen = Seen()
    proba = PredictOptions(probabilities=True)
    report = predict_many(
        [*sources[:2], corrupt, *sources[2:]], ref, tmp_path / "many", options=proba, client=cluster,
        events=seen,
    )  # fmt: skip
    assert report.summary() == "4 done, 0 skipped, 1 failed of 5 scenes"
    assert [r.source for r in report.failed] == [str(corrupt)]
    assert "corrupt.tif" in report.failed[0].error and "\n" not in report.failed[0].error
    assert sorted(r.source for r in seen.results) == sorted(r.source for r in report.results)

    sequential(sources, tmp_path / "one", adapter, checkpoint, probabilities=True)
    for source in sources:
        for name in (f"{source.stem}_pred.tif", f"{source.stem}_pred_proba.tif"):
            many, tags = pixels(tmp_path / "many" / name)
            one, _ = pixels(tmp_path / "one" / name)
            assert many.tobytes() == one.tobytes(), name
        assert SOURCE_TAG in tags or name.endswith("proba.tif")
    _, tags = pixels(tmp_path / "many" / "scene0_pred.tif")
    assert str(sources[0].resolve()) in tags[SOURCE_TAG] and len(tags[RUN_TAG]) == 64
    assert not [p for p in (tmp_path / "many").iterdir() if p.name.startswith(".")]  # nothing staged left

    again = predict_many(sources, ref, tmp_path / "many", options=proba, client=cluster)
    assert again.summary() == "0 done, 4 skipped, 0 failed of 4 scenes"
    # An output made from another version of its scene, or by another run (here: other options), is
    # not up to date: it is refused as any existing output is, before any scene runs, and replaced
    # with overwrite.
    os.utime(sources[1], ns=(1, 1))
    with pytest.raises(OutputExistsError, match=r"scene1_pred\.tif exists; overwrite=True replaces it"):
        predict_many(sources, ref, tmp_path / "many", options=proba, client=cluster)
    with pytest.raises(OutputExistsError, match=r"scene0_pred\.tif exists"):
        predict_many(sources[:1], ref, tmp_path / "many", options=proba.replace(overlap=8), client=cluster)
    redone = predict_many(sources, ref, tmp_path / "many", options=proba, client=cluster, overwrite=True)
    assert redone.summary() == "4 done, 0 skipped, 0 failed of 4 scenes"


def test_a_worker_killed_mid_run_is_replaced_and_outputs_are_whole(tmp_path, adapter, checkpoint, cluster):
    sources = scenes(tmp_path / "in")
    for i, source in enumerate(list(sources)):  # 8 scenes: the killed worker is busy with one of them
        copy = source.with_name(f"copy{i}.tif")
        shutil.copy(source, copy)
        sources.append(copy)
    ref = ModelRef(str(adapter), TEST_BASE, str(checkpoint))
    killed = []

    class KillOne(RunEvents):
        def scene(self, result):
            if not killed:
                address, pid = next(iter(cluster.run(os.getpid).items()))
                killed.append(address)
                os.kill(pid, signal.SIGKILL)

    report = predict_many(sources, ref, tmp_path / "out", client=cluster, events=KillOne())
    assert killed and report.summary() == "8 done, 0 skipped, 0 failed of 8 scenes", report.failed
    sequential(sources[:4], tmp_path / "one", adapter, checkpoint)
    for source in sources:  # the copies' maps equal their originals'
        original = source.stem if source.stem.startswith("scene") else f"scene{source.stem[4:]}"
        many = pixels(tmp_path / "out" / f"{source.stem}_pred.tif")[0]
        assert many.tobytes() == pixels(tmp_path / "one" / f"{original}_pred.tif")[0].tobytes(), source
    # the killed worker's staging folder was removed when its scene was written again
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{s.stem}_pred.tif{ext}" for s in sources for ext in ("", ".aux.xml")
    )


def test_a_task_run_again_after_its_output_was_published_is_done(tmp_path, adapter, checkpoint, cluster):
    """Dask reruns the task of a lost worker, which may have published the output first."""
    from geoadapters.inference.cluster import Models, Unit, _scene_task
    from geoadapters.inference.resume import run_identity, source_identity

    source = scenes(tmp_path / "in")[0]
    ref = ModelRef(str(adapter), TEST_BASE, str(checkpoint))
    (job,) = plan_jobs([source], tmp_path / "scene0_pred.tif", probabilities=True)
    options = PredictOptions(probabilities=True)
    tags = {SOURCE_TAG: source_identity(source), RUN_TAG: run_identity(ref.resolve(), ref, options)}
    models = Models((ref,), ("adapter",))
    args = (_scene_task, Unit((job,), (tags,), ("adapter",)), models, {}, options, False)
    (first,) = cluster.submit(*args, pure=False).result()
    written = job.output.read_bytes()
    (again,) = cluster.submit(*args, pure=False).result()
    assert (first.status, again.status) == ("done", "done") and job.output.read_bytes() == written
    other = {SOURCE_TAG: tags[SOURCE_TAG], RUN_TAG: "another run"}  # not this run's output: refused
    unit = Unit((job,), (other,), ("adapter",))
    (refused,) = cluster.submit(_scene_task, unit, models, {}, options, False, pure=False).result()
    assert refused.status == "failed" and "exists" in refused.error


def tall_scene(path: Path, *, corrupt_bottom: bool = False) -> Path:
    """300 x 128 px of the chip in 16 px deflate tiles; the bottom tile of band 2 garbled if asked."""
    with rasterio.open(S2_CHIP) as src:
        window = Window(0, 0, 128, 300)
        profile = src.profile | {"width": 128, "height": 300, "transform": src.window_transform(window)}
        profile |= {"tiled": True, "blockxsize": 16, "blockysize": 16, "compress": "deflate"}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
    if corrupt_bottom:
        with rasterio.open(path) as src:
            offset, size = (
                int(src.get_tag_item(f"BLOCK_{k}_0_18", "TIFF", bidx=2)) for k in ("OFFSET", "SIZE")
            )
        data = bytearray(path.read_bytes())
        data[offset : offset + size] = b"\xff" * size
        path.write_bytes(bytes(data))
    return path


def test_a_scene_split_across_two_workers_equals_one_process(tmp_path, adapter, checkpoint, cluster):
    (tmp_path / "in").mkdir()
    source = tall_scene(tmp_path / "in" / "tall.tif")
    ref = ModelRef(str(adapter), TEST_BASE, str(checkpoint))
    options = {"probabilities": True, "probability_dtype": "float32", "overlap": 32, "batch_size": 5}
    request = PredictOptions(**options)
    seen = Seen()
    report = predict_many(
        [source], ref, tmp_path / "split", options=request, vector="gpkg", client=cluster, split=3,
        events=seen,
    )  # fmt: skip
    assert report.summary() == "1 done, 0 skipped, 0 failed of 1 scenes", report.failed
    result = report.results[0]
    assert result.tiles == result.computed == 9 * 3  # 9 tile rows of 3 tiles, each computed once
    assert seen.counts and seen.counts[-1] == (27, 27)  # the blocks' tiles, as the workers reported them
    sequential(
        [source], tmp_path / "one", adapter, checkpoint, vector=tmp_path / "one" / "tall.gpkg", **options
    )
    for name in ("tall_pred.tif", "tall_pred_proba.tif"):
        split, _ = pixels(tmp_path / "split" / name)
        one, _ = pixels(tmp_path / "one" / name)
        assert np.array_equal(split, one, equal_nan=True), name
        with rasterio.open(tmp_path / "split" / name) as done:
            assert done.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert SOURCE_TAG in pixels(tmp_path / "split" / "tall_pred.tif")[1]
    split_shapes, one_shapes = (
        pyogrio.raw.read(p)[2]
        for p in (tmp_path / "split" / "tall_pred.gpkg", tmp_path / "one" / "tall.gpkg")
    )
    assert len(one_shapes) > 1 and list(split_shapes) == list(one_shapes)
    assert not [p for p in (tmp_path / "split").iterdir() if p.name.startswith(".")]  # nothing staged left
    again = predict_many(
        [source], ref, tmp_path / "split", options=request, vector="gpkg", client=cluster, split=3
    )
    assert again.summary() == "0 done, 1 skipped, 0 failed of 1 scenes"
    with pytest.raises(OutputExistsError, match="exists; overwrite=True replaces it"):  # before any block
        predict_many(
            [source], ref, tmp_path / "split", options=request.replace(overlap=16), client=cluster, split=3
        )

    bad = tall_scene(tmp_path / "in" / "bad.tif", corrupt_bottom=True)  # the last block cannot read
    failed = predict_many([bad], ref, tmp_path / "bad", options=request, client=cluster, split=3)
    assert failed.summary() == "0 done, 0 skipped, 1 failed of 1 scenes"
    error = failed.results[0].error
    assert "bad.tif: reading rows" in error and "\n" not in error, error
    assert list((tmp_path / "bad").iterdir()) == []  # nothing published, nothing staged


def test_local_workers_start_without_dasks_malloc_trim_threshold():
    # Dask's MALLOC_TRIM_THRESHOLD_ fixes glibc's mmap threshold: torch ran 22 % slower under it. A fresh
    # process, as the CLI is: a Dask cluster started before (this module's) exports it to its children.
    code = (
        "import os; from geoadapters.inference.cluster import local_client\n"
        "with local_client(1) as client:\n"
        "    print(list(client.run(lambda: os.environ.get('MALLOC_TRIM_THRESHOLD_')).values()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[None]", done.stderr[-2000:]
