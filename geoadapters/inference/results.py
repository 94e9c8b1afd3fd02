"""What became of each scene of a run (`SceneResult`, `ManyReport`), and `run_job`, which predicts one.

`run_job` is the per-scene step of every run, in this process or on a Dask worker: it predicts a job
(`geoadapters.inference.predict.predict_job`), keeps the warnings it raised as lines, and turns a
geoadapters error into a failed result, so that one bad scene never stops the others.
"""

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from geoadapters.errors import PYTHON, GeoAdaptersError, GeoAdaptersWarning, render
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.request import PredictOptions

if TYPE_CHECKING:
    from geoadapters.inference.runners import Runner

__all__ = ["ManyReport", "SceneResult", "one_line", "run_job"]


def one_line(problem: Warning | BaseException | str) -> str:
    """An error's or warning's message on one line, with its option markers (`geoadapters.errors`)."""
    text = problem.template if isinstance(problem, GeoAdaptersError | GeoAdaptersWarning) else str(problem)
    return " ".join(text.split())


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

    def message(self, controls: Mapping[str, str] = PYTHON) -> str:
        """The error, its option markers rendered as the controls of a surface (Python's by default)."""
        return render(self.error, controls)

    @classmethod
    def of(cls, job: SceneJob, status: Literal["skipped", "failed"], error: str = "") -> "SceneResult":
        """The result of a job that did not run: skipped, or failed with `error`."""
        return cls(str(job.source), str(job.output), status, error=error)


@dataclass(frozen=True)
class ManyReport:
    """The scenes of a run, in the order given, and its wall time."""

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


def run_job(
    job: SceneJob,
    runner: "Runner",
    options: PredictOptions,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tags: Mapping[str, str] | None = None,
    blocks: Sequence[Path] | None = None,
) -> SceneResult:
    """Predict one job; its errors become a failed result, its warnings lines.

    See `geoadapters.inference.predict.predict_job` for the arguments.
    """
    from geoadapters.inference.predict import predict_job

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = predict_job(
                job, runner, options, overwrite=overwrite, progress=progress, tags=tags, blocks=blocks
            )
        except GeoAdaptersError as err:
            return SceneResult.of(job, "failed", one_line(err))
    lines = tuple(dict.fromkeys(one_line(w.message) for w in caught))
    return SceneResult(
        str(job.source), str(job.output), "done", seconds=report.seconds, tiles=report.tiles,
        computed=report.computed, class_pixels=dict(report.class_pixels), warnings=lines,
        probabilities=None if report.probabilities is None else str(report.probabilities),
        vector=None if report.vector is None else str(report.vector), runner=report.runner,
    )  # fmt: skip
