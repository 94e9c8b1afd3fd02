"""The run path: many scenes (or one) predicted with one model, in this process or on a Dask cluster.

`predict_many` is what ``geoadapters predict`` runs and what Python calls for batches; Dask workers run
its per-scene step (`geoadapters.inference.results.run_job`). In order:

1. plan the jobs: each scene's outputs, checked against each other and against the inputs;
2. resolve the adapter once (`geoadapters.references`) and pin it, so every worker loads the same files;
3. skip the scenes whose outputs are up to date (`geoadapters.inference.resume`), unless ``overwrite``;
4. refuse the run if any other output exists (unless ``overwrite``), and check every other scene
   cheaply (`geoadapters.inference.preflight`), before any model is loaded: a bad scene fails alone,
   with its one-line error (a scene that does not exist, before the adapter is even read);
5. predict the rest, in this process (the model loaded once) or as tasks on a Dask cluster.

Every class map records its source and run in its tags, so a run killed halfway and started again
predicts only what is missing.
"""

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geoadapters._staging import check_overwrite
from geoadapters.errors import DeviceError, GeoAdaptersError, OptionError, one_line
from geoadapters.inference.cluster import Models, Unit
from geoadapters.inference.jobs import SceneJob, SceneSource, check_outputs, plan_jobs
from geoadapters.inference.preflight import check_dates, check_jobs
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.inference.results import ManyReport, SceneResult, run_job
from geoadapters.inference.resume import (
    ADAPTER_TAG,
    RUN_TAG,
    SOURCE_TAG,
    run_identity,
    source_identity,
    up_to_date,
)
from geoadapters.raster.outputs import adapter_label
from geoadapters.stac.model import mlm_link

if TYPE_CHECKING:
    from distributed import Client

    from geoadapters.references import AdapterSource

__all__ = ["RunEvents", "predict_many"]


class RunEvents:
    """What a run tells as it goes; subclass it to show progress. Every method does nothing here."""

    def resolved(self, source: "AdapterSource") -> None:
        """The adapter resolved to `source`; called once, before any scene is checked."""

    def loading(self, scenes: int) -> None:
        """The model is about to load in this process, for `scenes` checked scenes."""

    def scene(self, result: SceneResult) -> None:
        """A scene ended: skipped, failed (in the checks or the prediction) or done."""

    def tiles(self, job: SceneJob | None, done: int, total: int) -> None:
        """Tiles done of a scene in this process (`job`), or summed over a cluster's tasks (None)."""


def _tiles_of(events: RunEvents, job: SceneJob) -> Callable[[int, int], None]:
    """A tile progress of one scene that tells `events`."""

    def progress(done: int, total: int) -> None:
        events.tiles(job, done, total)

    return progress


def _missing(path: Path) -> str | None:
    """Why a scene's file cannot be there (no such file, a name too long), or None if it exists."""
    try:
        return None if path.exists() else "no such file"
    except OSError as err:
        return str(err.strerror).lower()


def predict_many(
    sources: Sequence[SceneSource],
    model: ModelRef | Sequence[ModelRef],
    output: str | Path | Sequence[str | Path] | None = None,
    *,
    options: PredictOptions | None = None,
    vector: str | Path | Sequence[str | Path | None] | None = None,
    overwrite: bool = False,
    client: "Client | None" = None,
    workers: int | None = None,
    split: int = 1,
    events: RunEvents | None = None,
) -> ManyReport:
    """Predict scenes with one model; a scene that fails is reported and the others go on.

    Args:
        sources: Scenes (paths, URLs, GDAL ``/vsi`` paths, STAC Items), or for a model of several frames
            a scene's frames' files (a list); with a remote cluster, paths its workers read.
        model: The model to load (`ModelRef`); or several adapters of one base, which run together:
            each tile is read once for all (`geoadapters.inference.set_runner`), and each adapter
            writes its own outputs, ``<stem>_<label>_pred.tif`` (`adapter_label`; a file given as
            `output` or `vector` gets ``_<label>`` before its suffix), resumed each on its own.
        output: A folder, one output file per source, a class map file (one scene), or None
            (``<stem>_pred.tif`` beside each scene).
        options: How to predict (`PredictOptions`); default the adapter's tiling.
        vector: A format name (``gpkg``, ``geojson``: ``<output stem>.<format>``), one file (one scene),
            or one file (or None) per source.
        overwrite: Replace existing outputs, even up-to-date ones.
        client: A ``distributed.Client`` to run the scenes on as tasks.
        workers: Run them on a local Dask cluster of this many worker processes (the ``dask`` extra).
            Neither `client` nor `workers`: in this process, the model loaded once.
        split: With a cluster, blocks of tile rows each scene is cut into, computed as tasks of their
            own (on several workers) and then written into the scene's outputs, which equal the unsplit
            ones exactly: for scenes too large for one worker. The blocks' files (4 x classes + 1 bytes
            per pixel) are staged beside the output (a remote cluster's workers need a shared folder).
            Not with ``resample``.
        events: Told of the run's progress (`RunEvents`).

    Returns:
        Every scene's result, in the order of `sources` (a scene of frames named by its first file);
        with several adapters, each scene's results in the order of the adapters.

    Raises:
        GeoAdaptersError: What concerns the whole run: the adapter does not resolve or load, the
            runtime cannot run it, two scenes would write one file, an output is one of the inputs.
        OutputExistsError: An output exists that is not up to date, and `overwrite` is False.
        ValueError: `split` is below 1, or above 1 without a cluster or with ``resample``.
    """
    started = time.perf_counter()
    options = options or PredictOptions()
    events = events or RunEvents()
    models = [model] if isinstance(model, ModelRef) else list(model)
    cluster = client is not None or workers is not None
    if split < 1 or (split > 1 and not cluster) or (split > 1 and options.resample):
        raise ValueError(f"split {split}: a split needs a cluster (client or workers) and no resample")
    labels = _labels(models)
    outputs = {
        "probabilities": options.probabilities, "uncertainty": options.uncertainty, "areas": options.areas,
        "stac": options.stac,
    }  # fmt: skip
    named = len(models) > 1
    grid = [
        plan_jobs(sources, output, vector=vector, label=label if named else None, **outputs)
        for label in labels
    ]
    check_outputs([job for jobs in grid for job in jobs])  # no two adapters write one file
    scenes, kinds = len(grid[0]), len(models)
    results: dict[tuple[int, int], SceneResult] = {}

    def report() -> ManyReport:
        ordered = [results[i, a] for i in range(scenes) for a in range(kinds)]
        return ManyReport(ordered, time.perf_counter() - started, kinds)

    for i, job in enumerate(grid[0]):  # the commonest mistake, told before the adapter is even read
        missing = [(f, why) for f in job.frames if isinstance(f, Path) and (why := _missing(f))]
        if missing:
            for a in range(kinds):
                error = f"{str(missing[0][0])[:200]}: {missing[0][1]}"
                results[i, a] = SceneResult.of(grid[a][i], "failed", error)
    if len(results) == scenes * kinds:
        for key in sorted(results):
            events.scene(results[key])
        return report()
    resolved = [ref.resolve() for ref in models]
    for ref, source in zip(models, resolved, strict=True):
        if source.kind == "onnx" and ref.runtime == "torch":
            raise DeviceError(f"{source.reference} is an ONNX file: run it with `runtime_onnx` (its default)")
        source.check_loadable()
        check_dates(source.config, options)
        events.resolved(source)
    pinned = [ref.pinned(source) for ref, source in zip(models, resolved, strict=True)]
    runs = [run_identity(s, ref, options) for s, ref in zip(resolved, pinned, strict=True)]
    said: dict[tuple[int, int], list[str]] = {}
    tags: dict[tuple[int, int], dict[str, str]] = {}

    def finish(key: tuple[int, int], result: SceneResult) -> None:
        lines = tuple(dict.fromkeys([*said.get(key, ()), *result.warnings]))
        results[key] = dataclasses.replace(result, warnings=lines)
        events.scene(results[key])

    for key in sorted(results):
        events.scene(results[key])
    for i in range(scenes):
        todo = []
        for a in range(kinds):
            job = grid[a][i]
            if (i, a) in results:
                continue
            if not overwrite and up_to_date(job, runs[a]):
                finish((i, a), SceneResult.of(job, "skipped"))
                continue
            for path in job.outputs():
                check_overwrite(path, overwrite)  # the whole run, before the first prediction
            todo.append(a)
        if not todo:
            continue
        try:  # the scene opened once for all its adapters
            said[i, todo[0]] = check_jobs(
                [grid[a][i] for a in todo], [resolved[a].config for a in todo], options
            )
            identity = source_identity(grid[0][i].scene)
            for a in todo:
                tags[i, a] = {SOURCE_TAG: identity, RUN_TAG: runs[a], ADAPTER_TAG: mlm_link(resolved[a])}
        except (GeoAdaptersError, OSError) as err:
            for a in todo:
                finish((i, a), SceneResult.of(grid[a][i], "failed", one_line(err)))
    pending = sorted({i for i, _ in tags})
    units = [
        Unit(
            tuple(grid[a][i] for a in range(kinds) if (i, a) in tags),
            tuple(tags[i, a] for a in range(kinds) if (i, a) in tags),
            tuple(labels[a] for a in range(kinds) if (i, a) in tags),
        )
        for i in pending
    ]

    def finish_unit(k: int, unit_results: list[SceneResult]) -> None:
        i = pending[k]
        for label, result in zip(units[k].labels, unit_results, strict=True):
            finish((i, labels.index(label)), result)

    if pending and cluster:
        from geoadapters.inference.cluster import run_on_cluster

        run_on_cluster(
            units, Models(tuple(pinned), tuple(labels)), options, client=client, workers=workers,
            overwrite=overwrite, split=split, done=finish_unit,
            tiles=lambda done, total: events.tiles(None, done, total),
        )  # fmt: skip
    elif pending:
        from geoadapters.inference.loading import load_runner

        events.loading(len(pending))
        runner = load_runner(pinned, labels, resolved)
        for k, unit in enumerate(units):
            chosen = runner if len(pinned) == 1 else runner.select(unit.labels)  # type: ignore[union-attr]
            progress = _tiles_of(events, unit.jobs[0])
            finish_unit(
                k, run_job(unit.jobs, chosen, options, overwrite=overwrite, progress=progress, tags=unit.tags)
            )
    return report()


def _labels(models: Sequence[ModelRef]) -> list[str]:
    """The label of each adapter in output names (`adapter_label`); one adapter has no label.

    Raises:
        OptionError: Two adapters have one label.
    """
    labels = [adapter_label(ref.adapter) for ref in models]
    for label in labels:
        if labels.count(label) > 1:
            raise OptionError(
                f"two adapters would write outputs named {label}: give adapters of different names"
            )
    return labels
