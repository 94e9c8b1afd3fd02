"""Scenes as tasks on a Dask cluster: each worker loads the model once and keeps it.

`run_on_cluster` hands every job to a ``dask.distributed`` client (a `LocalCluster` when none is given)
as one `geoadapters.inference.results.run_job` call, so each output is written exactly as in one process:
staged and published whole. Workers load the model the first time they need it and keep it for the
next scenes, with ``torch.set_num_threads`` set to the host's cores divided by the workers on that host,
so workers do not fight for cores. A scene too large for one worker can be split into blocks of tile
rows, tasks of their own whose strips one more task writes (`run_on_cluster`'s ``split``). Workers report
their tiles done as Dask events. Dask and torch are imported only when a prediction runs. The run path
(`geoadapters.inference.scenes.predict_many`) decides what to run; this module only schedules it.
"""

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoadapters._staging import check_overwrite
from geoadapters.errors import GeoAdaptersError, OutputExistsError, one_line
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.inference.results import SceneResult, run_job
from geoadapters.inference.resume import RUN_TAG, up_to_date

if TYPE_CHECKING:
    from distributed import Client

    from geoadapters.inference.runners import Runner
    from geoadapters.inference.set_runner import SetRunner

__all__ = ["Models", "Unit", "local_client", "run_on_cluster"]

# Seconds between two tile progress events of a task.
_EVENT_SECONDS = 0.5

# The worker's models, by references and labels: loaded by the first task that needs them, kept.
_RUNNERS: dict[tuple[tuple[ModelRef, ...], tuple[str, ...]], "Runner | SetRunner"] = {}
_LOADING = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Models:
    """The adapters of a run, pinned (`ModelRef.pinned`), and their labels (several adapters)."""

    refs: tuple[ModelRef, ...]
    labels: tuple[str, ...]


def _runner(models: Models, threads: dict[str, int], labels: Sequence[str]) -> "Runner | SetRunner":
    """The worker's runner of `models`, of the adapters named `labels` (all of them for one adapter)."""
    from geoadapters.inference.loading import load_runner

    key = (models.refs, models.labels)
    with _LOADING:
        if key not in _RUNNERS:
            from distributed import get_worker

            host = get_worker().address.rsplit(":", 1)[0].split("://")[-1]
            with contextlib.suppress(ModuleNotFoundError):  # a predict-only install has no torch
                import torch

                torch.set_num_threads(max(1, (os.cpu_count() or 1) // threads.get(host, 1)))
            _RUNNERS[key] = load_runner(models.refs, models.labels)
        runner = _RUNNERS[key]
    return runner if len(models.refs) == 1 else runner.select(labels)  # type: ignore[union-attr]


def _tile_events(topic: str | None, task: str) -> Callable[[int, int], None] | None:
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


def _block_task(
    job: SceneJob, path: str, part: tuple[int, int], models: Models, labels: tuple[str, ...],
    threads: dict[str, int], options: PredictOptions, topic: str | None,
) -> tuple[str, str, float]:  # fmt: skip
    """One block of a split scene on a worker: (its strip file, its one-line error or '', its seconds)."""
    from geoadapters.inference.predict import predict_block

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scene's task, which writes it, reports them
        try:
            runner = _runner(models, threads, labels)
            predict_block(job.scene, path, runner, part, options, progress=_tile_events(topic, path))
        except GeoAdaptersError as err:
            return path, one_line(err), 0.0
    return path, "", time.perf_counter() - started


def _scene_task(
    unit: "Unit", models: Models, threads: dict[str, int], options: PredictOptions, overwrite: bool,
    topic: str | None = None, blocks: Sequence[tuple[str, str, float]] = (),
) -> list[SceneResult]:  # fmt: skip
    """One scene's jobs on a worker; a split scene is written from its `blocks`.

    Dask runs a task again when its worker is lost, which may be after the first attempt published the
    outputs: without `overwrite` (the run left out the outputs up to date when it began), outputs that
    this very run made from this scene count as done.
    """
    jobs, tags = unit.jobs, unit.tags
    failed = [error for _, error, _ in blocks if error]
    if failed:
        return [SceneResult.of(job, "failed", failed[0]) for job in jobs]
    if not overwrite and all(up_to_date(job, t[RUN_TAG]) for job, t in zip(jobs, tags, strict=True)):
        return [SceneResult(str(job.source), str(job.output), "done") for job in jobs]
    files = [Path(path) for path, _, _ in blocks] or None
    try:
        runner = _runner(models, threads, unit.labels)
    except GeoAdaptersError as err:
        return [SceneResult.of(job, "failed", one_line(err)) for job in jobs]
    progress = None if files else _tile_events(topic, str(jobs[0].output))
    results = run_job(jobs, runner, options, overwrite=overwrite, progress=progress, tags=tags, blocks=files)
    extra = sum(s for _, _, s in blocks)
    return [dataclasses.replace(result, seconds=result.seconds + extra) for result in results]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One scene of a run: its jobs, one per adapter to run, their class map tags and the adapters' labels."""

    jobs: tuple[SceneJob, ...]
    tags: tuple[dict[str, str], ...]
    labels: tuple[str, ...]


def _staging(output: Path) -> Path:
    """A new folder for a split scene's blocks, beside its output."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".geoadapters-split-{output.name}-", dir=output.parent))


def _tile_counter(tiles: Callable[[int, int], None]) -> Callable[[tuple[float, Any]], None]:
    """A handler of tile progress events that calls `tiles` with the sums over the tasks."""
    counts: dict[str, tuple[int, int]] = {}

    def handle(event: tuple[float, Any]) -> None:
        task, done, total = event[1]
        counts[task] = (max(done, counts.get(task, (0, 0))[0]), total)
        tiles(sum(d for d, _ in counts.values()), sum(t for _, t in counts.values()))

    return handle


def run_on_cluster(
    units: Sequence[Unit],
    models: Models,
    options: PredictOptions,
    *,
    client: "Client | None" = None,
    workers: int | None = None,
    overwrite: bool = False,
    split: int = 1,
    done: Callable[[int, list[SceneResult]], None] | None = None,
    tiles: Callable[[int, int], None] | None = None,
) -> dict[int, list[SceneResult]]:
    """Predict scenes as tasks on a Dask cluster; the results of each, by index, as `done` is told them.

    Args:
        units: The scenes and their jobs (their paths must be readable by the workers) and tags (each
            class map's source and run, for resume).
        models: The models each worker loads once.
        options: How to predict.
        client: A ``distributed.Client``; None starts a `local_client` of `workers` processes.
        workers: Worker processes of the local cluster (default: the CPU count).
        overwrite: Replace existing outputs.
        split: Blocks of tile rows each scene is cut into (see `geoadapters.inference.scenes.predict_many`).
        done: Called with (index, result) as each job ends.
        tiles: Called with (tiles done, tiles of the tasks started) as the workers report them.
    """
    results: dict[int, list[SceneResult]] = {}

    def finish(i: int, result: list[SceneResult]) -> None:
        results[i] = result
        if done is not None:
            done(i, result)

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
        futures = {}  # the future of each scene's result
        staged = {}  # a split scene's staging folder and block futures
        for i, unit in enumerate(units):
            job = unit.jobs[0]
            key = f"{i}-{unit.tags[0][RUN_TAG][:12]}"
            blocks: list[Any] = []
            if split > 1:
                try:  # before its blocks are computed, not after
                    for path in (p for each in unit.jobs for p in each.outputs()):
                        check_overwrite(path, overwrite)
                except OutputExistsError as err:
                    finish(i, [SceneResult.of(each, "failed", one_line(err)) for each in unit.jobs])
                    continue
                folder = _staging(job.output)
                cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
                blocks = [
                    dask.submit(
                        _block_task, job, str(folder / f"{b}.strips"), (b, split), models, unit.labels,
                        hosts, options, topic, key=f"geoadapters-block-{key}-{b}", pure=False,
                    )
                    for b in range(split)
                ]  # fmt: skip
                staged[i] = (folder, blocks)
            future = dask.submit(
                _scene_task, unit, models, hosts, options, overwrite, topic, blocks,
                key=f"geoadapters-scene-{key}", pure=False,
            )  # fmt: skip
            futures[future] = i
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            i = futures[future]
            if future.status == "finished":
                result = future.result()
            else:
                error = one_line(future.exception())
                result = [SceneResult.of(each, "failed", error) for each in units[i].jobs]
            if i in staged:  # its blocks are over (a block that raised may leave others running)
                folder, blocks = staged.pop(i)
                wait(blocks)  # type: ignore[no-untyped-call]
                shutil.rmtree(folder, ignore_errors=True)
            finish(i, result)
    return results


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

    Raises:
        MissingDependencyError: Dask is not installed.
    """
    from geoadapters.errors import MissingDependencyError

    try:
        import dask.config
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise MissingDependencyError("predicting on a Dask cluster", extra="dask") from err
    n = workers or os.cpu_count() or 1
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as own,  # type: ignore[no-untyped-call]
    ):
        yield own
