"""The scale-out flags of predict (memory budget, Dask workers or scheduler, split) and the Dask client.

What runs on the cluster is `geoadapters.inference.cluster`; this module only parses and connects.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from geoadapters.config import MAX_MEMORY_GB, memory_budget
from geoadapters.errors import OptionError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["check_scale_out", "connect", "scale_out_opt"]

F = TypeVar("F", bound=Callable[..., Any])


def _budget(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """--memory-budget as `memory_budget` checks it: a usage error, before any work."""
    if value is not None:
        try:
            memory_budget(value)
        except OptionError:
            raise click.BadParameter(
                f"must be a number of GB above 0 and at most {MAX_MEMORY_GB:,}, got {value}"
            ) from None
    return value


def scale_out_opt(command: F) -> F:
    """The options of how a run uses memory and a Dask cluster; `check_scale_out` checks them together."""
    options = [
        click.option(
            "--memory-budget", type=float, callback=_budget,
            help="GB that the model and a scene's buffers may take (default: $GEOADAPTERS_MEMORY_GB or "
            "80% of RAM).",
        ),
        click.option(
            "--workers", type=click.IntRange(min=1),
            help="Predict the scenes on a local Dask cluster of N worker processes (the dask extra).",
        ),
        click.option(
            "--scheduler", metavar="ADDRESS", help="Predict the scenes on this Dask cluster (tcp://HOST:PORT)."
        ),
        click.option(
            "--split", type=click.IntRange(min=1), default=1, show_default=True,
            help="With --workers/--scheduler: cut each scene into N blocks of tile rows that run on several "
            "workers (for a huge scene; the output is the same).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def check_scale_out(workers: int | None, scheduler: str | None, split: int, resample: bool) -> None:
    """A usage error for scale-out flags that do not combine."""
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if split > 1 and workers is None and scheduler is None:
        raise click.UsageError("--split runs blocks on a Dask cluster: give --workers or --scheduler")
    if split > 1 and resample:
        raise click.UsageError("--split and --resample do not combine: a resampled scene is not split")


def connect(scheduler: str) -> "Client":
    """A client of the Dask scheduler at `scheduler`."""
    from geoadapters.errors import DeviceError, MissingDependencyError

    try:
        import distributed
    except ImportError as err:
        raise MissingDependencyError("--scheduler (Dask)", extra="dask") from err
    try:
        return distributed.Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
    except OSError as err:
        raise DeviceError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
