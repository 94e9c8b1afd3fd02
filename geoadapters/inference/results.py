"""What became of each scene of a run (`SceneResult`, `ManyReport`), and `run_job`, which predicts one.

`run_job` is the per-scene step of every run, in this process or on a Dask worker: it predicts a
scene's jobs, one per adapter (`geoadapters.inference.predict.predict_jobs`), keeps the warnings it
raised as lines, and turns a geoadapters error into failed results, so one bad scene never stops the
others.
"""

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from geoadapters.errors import PYTHON, GeoAdaptersError, one_line, render
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.request import PredictOptions

if TYPE_CHECKING:
    from geoadapters.inference.runners import Runner
    from geoadapters.inference.set_runner import SetRunner

__all__ = ["ManyReport", "SceneResult", "run_job"]


@dataclass(frozen=True)
class SceneResult:
    """What became of one scene.

    Attributes:
        source: The scene as given (the first file of a scene of frames).
        output: Its class map.
        status: ``done``, ``skipped`` (its outputs are up to date) or ``failed``.
        error: The one-line error of a failed scene, with option markers (see `message`).
        seconds: Wall time of the prediction (summed over a split scene's tasks).
        tiles: Tiles in the grid (0 unless done).
        computed: Tiles run through the model.
        class_pixels: Pixels of each class in the class map, by class name (done only).
        warnings: Warnings about the scene, one line each, with option markers.
        probabilities: The probability COG written, if any.
        vector: The polygon file written, if any.
        runner: Runtime, precision and device that computed it.
        uncertainty: The uncertainty COG written, if any.
        areas: The area table (CSV) written, if any.
        stac: The STAC Item written, if any.
        class_area_m2: Ground area of each class in m², by class name (with areas or stac).
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
    probabilities: str | None = None
    vector: str | None = None
    runner: str = ""
    uncertainty: str | None = None
    areas: str | None = None
    stac: str | None = None
    class_area_m2: dict[str, float] = dataclasses.field(default_factory=dict)

    def message(self, controls: Mapping[str, str] = PYTHON) -> str:
        """The error, its option markers rendered as the controls of a surface (Python's by default)."""
        return render(self.error, controls)

    @classmethod
    def of(cls, job: SceneJob, status: Literal["skipped", "failed"], error: str = "") -> "SceneResult":
        """The result of a job that did not run: skipped, or failed with `error`."""
        return cls(str(job.source), str(job.output), status, error=error)


@dataclass(frozen=True)
class ManyReport:
    """The outputs of a run, one per scene and adapter (scene-major, in the order given), and its wall time.

    Attributes:
        results: What became of each scene with each adapter: ``results[scene * adapters + adapter]``.
        seconds: Wall time of the run.
        adapters: Adapters each scene was predicted with (1: one result per scene).
    """

    results: list[SceneResult]
    seconds: float
    adapters: int = 1

    @property
    def unit(self) -> str:
        """What a result is: ``scenes`` with one adapter, else ``outputs`` (one per scene and adapter)."""
        return "scenes" if self.adapters == 1 else "outputs"

    def count(self, status: str) -> int:
        """Results (`unit`) with this status (``done``, ``skipped``, ``failed``)."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[SceneResult]:
        """The scenes that failed."""
        return [r for r in self.results if r.status == "failed"]

    def area_rows(self) -> list[dict[str, object]]:
        """The class areas of every scene done, then of all of them (scene ``all``): scene, class, m², ha."""
        rows: list[dict[str, object]] = []
        total: dict[str, float] = {}
        for result in self.results:
            for name, m2 in result.class_area_m2.items():
                rows.append({"scene": result.source, "class": name, "area_m2": m2, "area_ha": m2 / 1e4})
                total[name] = total.get(name, 0.0) + m2
        rows += [{"scene": "all", "class": n, "area_m2": m2, "area_ha": m2 / 1e4} for n, m2 in total.items()]
        return rows

    def write_batch(self, folder: Path, *, areas: bool, stac: bool) -> list[Path]:
        """Write the batch's area summary and STAC Collection into `folder` (replaced); return their paths.

        ``areas_summary.csv`` and ``.json`` (`area_rows`) where scenes have class areas, ``collection.json``
        (`geoadapters.stac.item.write_collection`) where they have STAC Items.
        """
        written: list[Path] = []
        if areas and any(r.class_area_m2 for r in self.results):
            from geoadapters.raster.area import write_area_table

            csv, summary = folder / "areas_summary.csv", folder / "areas_summary.json"
            write_area_table(csv, summary, self.area_rows(), {"scenes": self.count("done")}, True)
            written.append(csv)
        if stac and any(r.stac for r in self.results):
            from geoadapters.stac.item import write_collection

            written.append(write_collection(self, folder / "collection.json", overwrite=True))
        return written

    def summary(self) -> str:
        """``N done, N skipped, N failed of N scenes``; with several adapters, the scenes and the outputs.

        Several adapters: ``S scenes x A adapters: N done, N skipped, N failed of N outputs``.
        """
        done, skipped, failed = (self.count(s) for s in ("done", "skipped", "failed"))
        counts = f"{done} done, {skipped} skipped, {failed} failed of {len(self.results)} {self.unit}"
        if self.adapters == 1:
            return counts
        return f"{len(self.results) // self.adapters} scenes x {self.adapters} adapters: {counts}"


def run_job(
    jobs: Sequence[SceneJob],
    runner: "Runner | SetRunner",
    options: PredictOptions,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tags: Sequence[Mapping[str, str]] | None = None,
    blocks: Sequence[Path] | None = None,
) -> list[SceneResult]:
    """Predict one scene's jobs (one per adapter of `runner`); errors become failed results, warnings lines.

    See `geoadapters.inference.predict.predict_jobs` for the arguments.
    """
    from geoadapters.inference.predict import predict_jobs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            reports = predict_jobs(
                jobs, runner, options, overwrite=overwrite, progress=progress, tags=tags, blocks=blocks
            )
        except GeoAdaptersError as err:
            return [SceneResult.of(job, "failed", one_line(err)) for job in jobs]
    lines = tuple(dict.fromkeys(one_line(w.message) for w in caught))
    return [
        SceneResult(
            str(job.source), str(job.output), "done", seconds=report.seconds, tiles=report.tiles,
            computed=report.computed, class_pixels=dict(report.class_pixels), warnings=lines,
            probabilities=None if report.probabilities is None else str(report.probabilities),
            vector=None if report.vector is None else str(report.vector), runner=report.runner,
            uncertainty=None if report.uncertainty is None else str(report.uncertainty),
            areas=None if report.areas is None else str(report.areas[0]),
            stac=None if report.stac is None else str(report.stac), class_area_m2=dict(report.class_area_m2),
        )
        for job, report in zip(jobs, reports, strict=True)
    ]  # fmt: skip
