"""What ``geoadapters predict`` prints as a run goes: progress bars, warnings, a line per scene."""

import sys
from typing import TYPE_CHECKING

import click

from geoadapters.cli.options import CONTROLS
from geoadapters.errors import render
from geoadapters.inference.request import ModelRef
from geoadapters.inference.scenes import RunEvents

if TYPE_CHECKING:
    from tqdm import tqdm

    from geoadapters.inference.jobs import SceneJob
    from geoadapters.inference.results import SceneResult
    from geoadapters.references import AdapterSource

__all__ = ["Progress"]


def _default_line(source: "AdapterSource") -> str:
    """The one line that says the bundled model is used, with its held-out metric from its config."""
    water = source.config.metrics.get("test", {}).get("IoU", {}).get("Water")
    metric = "" if water is None else f", held-out water IoU {water:.1f}"
    return (
        f"no --adapter given: using the bundled offline demo model ({source.config.name}{metric}; "
        "trained from random weights on one chip, not a substitute for the published adapters)"
    )


class Progress(RunEvents):
    """Progress bars on a terminal (lines every 10 % of a scene's tiles elsewhere) and a line per scene."""

    def __init__(self, model: ModelRef, *, default: bool, many: bool) -> None:
        self.model = model
        self.default = default
        self.many = many
        self.interactive = sys.stderr.isatty()
        self.bar: tqdm | None = None
        self.job: SceneJob | None = None
        self.done = 0
        self.source: AdapterSource | None = None

    def resolved(self, source: "AdapterSource") -> None:
        """Say that the bundled model is used when no adapter was given."""
        if self.default:
            click.echo(_default_line(source))
        self.source = source

    def loading(self, scenes: int) -> None:
        """Say what loads (on a terminal) and which base weights it runs on."""
        source = self.source
        assert source is not None  # resolved first
        what = source.reference if source.kind == "onnx" else f"{source.base} + {source.reference}"
        if self.interactive:  # like the progress bar: on a terminal only, so errors stay one line
            click.echo(f"{scenes} scene(s) checked; loading {what}", err=True)
        if source.kind != "onnx":
            click.echo(f"base  {source.base_weights(self.model.checkpoint, self.model.base_revision)}")

    def tiles(self, job: "SceneJob | None", done: int, total: int) -> None:
        """Move the tile bar of the scene in progress (a bar of all tasks' tiles on a cluster)."""
        from tqdm import tqdm

        if job is not self.job or self.bar is None:
            self.close()
            self.job = job
            label = job.name if job is not None else "tiles"
            self.bar = tqdm(total=total, unit="tile", desc=label, disable=not self.interactive, leave=False)
            self.done = 0  # tiles of the bar's scene said so far (a disabled bar counts none)
        if not self.interactive and job is not None:  # logs and batch jobs: a line every 10 %
            step = max(1, total // 10)
            if done // step != self.done // step or done == total:
                click.echo(f"{job.name}: {done}/{total} tiles")  # stderr stays for errors
        self.done = done
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """Close the progress bar of the scene in progress."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def scene(self, result: "SceneResult") -> None:
        """A line for the scene: its warnings, then up to date, its error (of several), or its outputs."""
        if self.job is not None and str(self.job.output) == result.output:
            self.close()
        for line in result.warnings:
            click.echo(f"warning: {render(line, CONTROLS)}", err=True)
        if result.status == "skipped":
            click.echo(f"{result.output}  (up to date, skipped)")
        elif result.status == "failed":
            if self.many:  # one scene's error ends the command instead
                click.echo(f"error: {result.message(CONTROLS)}", err=True)
        else:
            click.echo(f"{result.output}  ({result.computed}/{result.tiles} tiles, {result.seconds:.1f} s, "
                       f"{result.runner})")  # fmt: skip
            for extra in (result.probabilities, result.uncertainty, result.vector, result.areas, result.stac):
                if extra is not None:
                    click.echo(f"  {extra}")
            total = sum(result.class_pixels.values())
            shares = ", ".join(f"{name} {n / max(total, 1):.1%}" for name, n in result.class_pixels.items())
            click.echo(f"  {total:,} px: {shares}")
