"""Many scenes on a Dask cluster: each scene is a task, each worker loads the model once and keeps it.

`predict_many` hands every scene to a ``dask.distributed`` client (a `LocalCluster` when none is
given) as one `predict_raster` call, so each output is written exactly as in one process: staged and
published whole. Workers load the model the first time they need it and keep it for the next scenes,
with ``torch.set_num_threads`` set to the host's cores divided by the workers on that host, so
workers do not fight for cores. A scene that fails is reported with its one-line error and the others
go on. Resume: each output records its source (path, size, modification time) and the run (a digest of
the adapter's files, the base weights and the options) in its tags; a scene whose output records the
same is skipped unless ``overwrite``. A scene too large for one worker can be split into blocks of
tile rows, tasks of their own whose strips one more task writes (`predict_many`'s ``split``). Workers
report their tiles done as Dask events. Dask and torch are imported only when a prediction runs.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from geoadapters._staging import check_overwrite
from geoadapters.errors import GeoAdaptersError, OutputExistsError
from geoadapters.raster.remote import gdal_path

if TYPE_CHECKING:
    from distributed import Client

    from geoadapters.inference.runners import Runner

__all__ = [
    "ManyReport",
    "ModelRef",
    "SceneResult",
    "SceneSource",
    "local_client",
    "predict_many",
    "run_identity",
    "source_identity",
    "up_to_date",
]

# A scene: one file (path, URL, GDAL path), or the files of its frames for a model of several frames.
SceneSource = str | Path | Sequence[str | Path]
# Tags of an output that say what it was made from (see `up_to_date`).
SOURCE_TAG = "geoadapters_source"
RUN_TAG = "geoadapters_run"
_CHUNK = 1 << 20
# Seconds between two tile progress events of a task.
_EVENT_SECONDS = 0.5


@dataclass(frozen=True)
class ModelRef:
    """What a worker loads: the references ``geoadapters predict`` takes, never a model object.

    Attributes:
        adapter: Adapter folder, Hub id, short name, or an exported ``.onnx`` file.
        base: Catalog name of the base (needed for short names).
        checkpoint: Local copy of the official base checkpoint.
        base_revision: Hub revision of the official base weights.
        runtime: ``torch`` or ``onnx``.
        device: ``cpu``, ``cuda``, ``cuda:N``; None for CUDA where it exists.
        precision: See `geoadapters.inference.runtime.make_runner`.
        memory_budget_gb: Most memory the model may take.
    """

    adapter: str
    base: str | None = None
    checkpoint: str | None = None
    base_revision: str | None = None
    runtime: str = "torch"
    device: str | None = None
    precision: str = "fp32"
    memory_budget_gb: float | None = None

    def load(self) -> "Runner":
        """The runner of this model, loaded now."""
        from geoadapters.inference.onnx_file import is_onnx_file
        from geoadapters.inference.runtime import make_runner

        if is_onnx_file(self.adapter):
            return make_runner(Path(self.adapter), self.runtime, self.device, self.precision)
        from geoadapters.factory import load

        refs = (self.base, self.adapter) if self.base else (self.adapter,)
        model = load(
            *refs, checkpoint=self.checkpoint, base_revision=self.base_revision,
            memory_budget_gb=self.memory_budget_gb, merged=True,  # as geoadapters predict loads it
        )  # fmt: skip
        return make_runner(model, self.runtime, self.device, self.precision)


@dataclass(frozen=True)
class SceneResult:
    """What became of one scene.

    Attributes:
        source: The scene as given (the first file of a scene of frames).
        output: Its class map.
        status: ``done``, ``skipped`` (its output is up to date) or ``failed``.
        error: The one-line error of a failed scene.
        seconds: Wall time of the prediction on its worker (summed over a split scene's tasks).
        tiles: Tiles in the grid (0 unless done).
        computed: Tiles run through the model.
        class_pixels: Pixels of each class (done only).
        warnings: Warnings the prediction raised, one line each.
    """

    source: str
    output: str
    status: Literal["done", "skipped", "failed"]
    error: str = ""
    seconds: float = 0.0
    tiles: int = 0
    computed: int = 0
    class_pixels: dict[str, int] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManyReport:
    """The scenes of a `predict_many` run, in the order given, and its wall time."""

    results: list[SceneResult]
    seconds: float

    def count(self, status: str) -> int:
        """Scenes with this status (``done``, ``skipped``, ``failed``)."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[SceneResult]:
        """The scenes that failed."""
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        """``N done, N skipped, N failed of N scenes``."""
        done, skipped, failed = (self.count(s) for s in ("done", "skipped", "failed"))
        return f"{done} done, {skipped} skipped, {failed} failed of {len(self.results)} scenes"


def _digest_file(path: Path, digest: "hashlib._Hash") -> None:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def _stat(path: str | Path) -> dict[str, object]:
    info = Path(path).stat()
    return {"path": os.path.abspath(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _files(source: SceneSource) -> list[str]:
    """The scene's files: the one, or its frames'."""
    return [str(source)] if isinstance(source, str | Path) else [str(f) for f in source]


def source_identity(source: SceneSource) -> str:
    """What identifies a scene's content cheaply: absolute path, size and mtime; a URL for remote ones.

    A scene of frames: the list of its files' identities.
    """
    if not isinstance(source, str | Path):
        return json.dumps([json.loads(source_identity(f)) for f in source])
    remote = gdal_path(source)
    if remote is not None:
        return json.dumps({"path": remote}, sort_keys=True)
    return json.dumps(_stat(source), sort_keys=True)


def run_identity(model: ModelRef, options: dict[str, object]) -> str:
    """A digest of what makes a prediction: the adapter's files, the base weights, runtime and options.

    The adapter is resolved as `geoadapters.load` resolves it (a Hub id is downloaded once, as the
    workers will). A file adapter (ONNX) is hashed whole, a folder adapter file by file.
    """
    from geoadapters.inference.onnx_file import is_onnx_file

    digest = hashlib.sha256()
    adapter = Path(model.adapter).expanduser()
    if not (is_onnx_file(model.adapter) or adapter.is_dir()):
        from geoadapters.hub.refs import resolve_adapter

        adapter = resolve_adapter(model.adapter, model.base)
    files = [adapter] if adapter.is_file() else sorted(p for p in adapter.iterdir() if p.is_file())
    for file in files:
        digest.update(file.name.encode())
        _digest_file(file, digest)
    checkpoint = None if model.checkpoint is None else _stat(model.checkpoint)
    described = dataclasses.asdict(model) | {"adapter": None, "checkpoint": checkpoint}
    digest.update(json.dumps([described, options], sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def up_to_date(output: str | Path, source: SceneSource, run: str, extras: Sequence[str | Path] = ()) -> bool:
    """Whether `output` exists, was made from `source` as it is now by the run `run`, and `extras` exist."""
    import rasterio

    output = Path(output)
    if not output.is_file() or not all(Path(p).exists() for p in extras):
        return False
    try:
        with rasterio.open(output) as done:
            tags = done.tags()
        current = source_identity(source)
    except (OSError, rasterio.errors.RasterioIOError):
        return False
    return bool(tags.get(SOURCE_TAG) == current and tags.get(RUN_TAG) == run)


# The worker's models, by reference: loaded by the first task that needs one, kept for the next.
_RUNNERS: dict[ModelRef, "Runner"] = {}
_LOADING = threading.Lock()


def _runner(model: ModelRef, threads: dict[str, int]) -> "Runner":
    with _LOADING:
        if model not in _RUNNERS:
            import torch
            from distributed import get_worker

            host = get_worker().address.rsplit(":", 1)[0].split("://")[-1]
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // threads.get(host, 1)))
            _RUNNERS[model] = model.load()
        return _RUNNERS[model]


def _tile_events(topic: str | None, task: str) -> "Callable[[int, int], None] | None":
    """A `predict_tiles` progress that sends (task, tiles done, tiles) to `topic`, twice a second at most."""
    if topic is None:
        return None
    from distributed import get_worker

    worker = get_worker()
    sent = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - sent[0] >= _EVENT_SECONDS:
            sent[0] = now
            worker.log_event(topic, (task, done, total))

    return report


def _predict_block(
    source: str | list[str], path: str, part: tuple[int, int], model: ModelRef, threads: dict[str, int],
    options: dict[str, Any], topic: str | None,
) -> tuple[str, str, float]:  # fmt: skip
    """One block of a split scene on a worker: (its strip file, its one-line error or '', its seconds)."""
    from geoadapters.inference.predict import predict_block

    started = time.perf_counter()
    block = {k: v for k, v in options.items() if k not in ("probability_dtype", "resample", "overwrite")}
    progress = _tile_events(topic, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scene's task, which writes it, reports them
        try:
            predict_block(source, path, _runner(model, threads), part, progress=progress, **block)
        except GeoAdaptersError as err:
            return path, str(err), 0.0
    return path, "", time.perf_counter() - started


def _predict_scene(
    source: str | list[str], output: str, vector: str | None, model: ModelRef, threads: dict[str, int],
    tags: dict[str, str], options: dict[str, Any], topic: str | None = None,
    blocks: Sequence[tuple[str, str, float]] = (),
) -> SceneResult:  # fmt: skip
    """One scene on a worker (the task of `predict_many`); a split scene is written from its `blocks`.

    Dask runs a task again when its worker is lost, which may be after the first attempt published the
    outputs: an existing output that this very run made from this scene counts as done.
    """
    from geoadapters.inference.predict import predict_raster
    from geoadapters.raster.write import outputs_beside

    name = _files(source)[0]  # a scene of frames is named by its first file
    failed = [error for _, error, _ in blocks if error]
    if failed:
        return SceneResult(name, output, "failed", error=failed[0])
    files = [Path(path) for path, _, _ in blocks] or None
    progress = None if files else _tile_events(topic, output)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = predict_raster(
                source, output, _runner(model, threads), vector=vector, tags=tags, progress=progress,
                blocks=files, **options,
            )  # fmt: skip
        except OutputExistsError as err:
            extras = outputs_beside(output, bool(options.get("probabilities")), vector)
            if up_to_date(output, source, tags[RUN_TAG], extras):
                return SceneResult(name, output, "done")
            return SceneResult(name, output, "failed", error=str(err))
        except GeoAdaptersError as err:
            return SceneResult(name, output, "failed", error=str(err))
    said = tuple(dict.fromkeys(str(w.message) for w in caught))
    seconds = report.seconds + sum(s for _, _, s in blocks)
    return SceneResult(
        name, output, "done", seconds=seconds, tiles=report.tiles, computed=report.computed,
        class_pixels=dict(report.class_pixels), warnings=said,
    )  # fmt: skip


def _outputs(sources: Sequence[SceneSource], output: str | Path | Sequence[str | Path] | None) -> list[str]:
    from geoadapters.raster.write import default_output

    if output is None or isinstance(output, (str, Path)):  # named after a scene's (first) file
        return [str(default_output(_files(s)[0], output)) for s in sources]
    if len(output) != len(sources):
        raise ValueError(f"{len(output)} outputs for {len(sources)} scenes")
    return [str(o) for o in output]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300]


def predict_many(
    sources: Sequence[SceneSource],
    model: ModelRef,
    output: str | Path | Sequence[str | Path] | None = None,
    *,
    vector: str | Sequence[str | Path | None] | None = None,
    client: "Client | None" = None,
    workers: int | None = None,
    overwrite: bool = False,
    split: int = 1,
    progress: Callable[[SceneResult], None] | None = None,
    tiles: Callable[[int, int], None] | None = None,
    **options: Any,
) -> ManyReport:
    """Predict many scenes as tasks on a Dask cluster; failed scenes are reported, the others go on.

    Args:
        sources: Scenes (paths, URLs, GDAL ``/vsi`` paths), or for a model of several frames a scene's
            frames' files (a list); with a remote cluster, paths its workers read.
        model: The model each worker loads once.
        output: A folder, one output file per source, or None (``<stem>_pred.tif`` beside each scene).
        vector: A format name (``gpkg``, ``geojson``: ``<output stem>.<format>``), or one file (or
            None) per source.
        client: A ``distributed.Client``; None starts a `LocalCluster` of `workers` processes for this call.
        workers: Worker processes of the local cluster (default: the CPU count); one Dask thread each.
        overwrite: Replace existing outputs, even up-to-date ones.
        split: Blocks of tile rows each scene is cut into, computed as tasks of their own (on several
            workers) and then written into the scene's outputs, which equal the unsplit ones exactly:
            for scenes too large for one worker. The blocks' files (4 x classes + 1 bytes per pixel) are
            staged beside the output (a remote cluster's workers need a shared folder). Not with
            ``resample``.
        progress: Called with each scene's result as it ends (skipped scenes first).
        tiles: Called with (tiles done, tiles of the tasks started) as the workers report them.
        **options: Keyword options of `geoadapters.inference.predict.predict_raster` (tile_size,
            overlap, batch_size, probabilities, probability_dtype, metadata, resample, bands, scale,
            nodata, geotiff_only, memory_budget_gb).

    Returns:
        Every scene's result, in the order of `sources` (a scene of frames named by its first file).
    """
    from geoadapters.raster.write import outputs_beside

    started = time.perf_counter()
    files = [_files(s) for s in sources]
    names = [f[0] for f in files]
    given = [f[0] if len(f) == 1 else f for f in files]  # what each task passes to predict_raster
    outputs = _outputs(sources, output)
    if vector is None or isinstance(vector, str):
        vectors = [None if vector is None else str(Path(o).with_suffix(f".{vector}")) for o in outputs]
    else:
        vectors = [None if v is None else str(v) for v in vector]
    if split < 1:
        raise ValueError(f"split must be at least 1, got {split}")
    if split > 1 and options.get("resample"):
        raise ValueError("a resampled scene cannot be split: drop resample or split")
    run = run_identity(model, options)
    results: dict[int, SceneResult] = {}
    pending = []
    extras = [
        outputs_beside(out, bool(options.get("probabilities")), vec)
        for out, vec in zip(outputs, vectors, strict=True)
    ]
    for i, (scene, out) in enumerate(zip(given, outputs, strict=True)):
        if not overwrite and up_to_date(out, scene, run, extras[i]):
            results[i] = SceneResult(names[i], out, "skipped")
            if progress is not None:
                progress(results[i])
        else:
            pending.append(i)
    if pending:
        with _client(client, workers) as dask, contextlib.ExitStack() as cleanup:
            from distributed import as_completed, wait

            hosts: dict[str, int] = {}
            for info in dask.scheduler_info(n_workers=-1)["workers"].values():
                hosts[info["host"]] = hosts.get(info["host"], 0) + 1
            topic = None
            if tiles is not None:
                topic = f"geoadapters-tiles-{uuid.uuid4().hex}"
                dask.subscribe_topic(topic, _tile_counter(tiles))  # type: ignore[no-untyped-call]
                cleanup.callback(dask.unsubscribe_topic, topic)
            scenes = {}  # the future of each scene's result
            staged = {}  # a split scene's staging folder and block futures
            for i in pending:
                try:
                    tags = {SOURCE_TAG: source_identity(given[i]), RUN_TAG: run}
                except OSError as err:  # vanished since it was listed
                    results[i] = SceneResult(names[i], outputs[i], "failed", error=_one_line(err))
                    continue
                key = f"{i}-{run[:12]}"
                blocks: list[Any] = []
                if split > 1:
                    try:  # before its blocks are computed, not after
                        for path in [Path(outputs[i]), *extras[i]]:
                            check_overwrite(path, overwrite)
                    except OutputExistsError as err:
                        results[i] = SceneResult(names[i], outputs[i], "failed", error=str(err))
                        continue
                    folder = _staging(outputs[i])
                    cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
                    blocks = [
                        dask.submit(
                            _predict_block, given[i], str(folder / f"{b}.strips"), (b, split), model, hosts,
                            options, topic, key=f"geoadapters-block-{key}-{b}", pure=False,
                        )
                        for b in range(split)
                    ]  # fmt: skip
                    staged[i] = (folder, blocks)
                future = dask.submit(
                    _predict_scene, given[i], outputs[i], vectors[i], model, hosts, tags,
                    options | {"overwrite": overwrite}, topic, blocks, key=f"geoadapters-scene-{key}",
                    pure=False,
                )  # fmt: skip
                scenes[future] = i
            for future in as_completed(scenes):  # type: ignore[no-untyped-call]
                i = scenes[future]
                if future.status == "finished":
                    results[i] = future.result()
                else:
                    results[i] = SceneResult(
                        names[i], outputs[i], "failed", error=_one_line(future.exception())
                    )
                if i in staged:  # its blocks are over (a block that raised may leave others running)
                    folder, blocks = staged.pop(i)
                    wait(blocks)  # type: ignore[no-untyped-call]
                    shutil.rmtree(folder, ignore_errors=True)
                if progress is not None:
                    progress(results[i])
    return ManyReport([results[i] for i in range(len(names))], time.perf_counter() - started)


def _staging(output: str) -> Path:
    """A new folder for a split scene's blocks, beside its output."""
    folder = Path(output).parent
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".geoadapters-split-{Path(output).name}-", dir=folder))


def _tile_counter(tiles: Callable[[int, int], None]) -> Callable[[tuple[float, Any]], None]:
    """A handler of tile progress events that calls `tiles` with the sums over the tasks."""
    counts: dict[str, tuple[int, int]] = {}

    def handle(event: tuple[float, Any]) -> None:
        task, done, total = event[1]
        counts[task] = (max(done, counts.get(task, (0, 0))[0]), total)
        tiles(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))

    return handle


@contextlib.contextmanager
def _client(client: "Client | None", workers: int | None) -> Iterator["Client"]:
    """The given client, or a `local_client` of `workers` processes closed at the end."""
    if client is not None:
        yield client
    else:
        with local_client(workers) as own:
            yield own


@contextlib.contextmanager
def local_client(workers: int | None = None) -> Iterator["Client"]:
    """A client of a `LocalCluster` of `workers` processes (default: the CPU count), one thread each.

    Its workers start without Dask's ``MALLOC_TRIM_THRESHOLD_``: that setting fixes glibc's mmap
    threshold, so every large tensor is mapped afresh, and torch ran 22 % slower under it. (A cluster
    started earlier in the process with Dask's defaults has exported it to this process's children.)
    """
    import dask.config
    from distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as own,  # type: ignore[no-untyped-call]
    ):
        yield own
