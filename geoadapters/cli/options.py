"""Options shared by several commands, defined once.

====================  =========================
option                commands
====================  =========================
--model, --adapter    export, info (--model only: the base of a short adapter name); predict (both
                      optional: neither means the bundled offline model)
--checkpoint          predict, export
--overwrite           predict, export, convert
--precision           predict
--simplify, --min-    predict, vectorize: how polygons are cleaned (`vector_options_opt`)
area, --fill-holes,
--area-unit,
--vector-classes
====================  =========================
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from geoadapters.inference import PRECISIONS
from geoadapters.raster.outputs import AREA_UNITS, VectorOptions

__all__ = [
    "CONTROLS",
    "adapter_opt",
    "checkpoint_opt",
    "model_opt",
    "optional_adapter_opt",
    "overwrite_opt",
    "positive",
    "precision_opt",
    "vector_options",
    "vector_options_opt",
]

F = TypeVar("F", bound=Callable[..., Any])

# The flags that messages' option markers name on the command line (`geoadapters.errors.render`).
CONTROLS = {
    "bands": "--bands",
    "scale": "--scale",
    "nodata": "--nodata",
    "dates": "--date (once per frame)",
    "frames": "--frames",
    "overwrite": "--overwrite",
    "checkpoint": "--checkpoint",
    "tile_size": "--tile-size",
    "batch_size": "--batch-size",
    "memory_budget": "--memory-budget",
    "runtime_onnx": "--runtime onnx",
    "resample": "--resample",
}

model_opt: Callable[[F], F] = click.option(
    "--model",
    "base",
    help="Base model, e.g. prithvi-300 ('geoadapters list' shows them); default: the one the adapter "
    "names (needed for short adapter names).",
)
_ADAPTER_KINDS = (
    "org/name[@revision], or a name (<dataset>-<method> on --model; the bundled sen1floods11-tiny; a "
    "published fine-tune such as burn_scars-terratorch)."
)
# export's: an .onnx file is refused by name there (it is the output, not an input).
adapter_opt: Callable[[F], F] = click.option(
    "--adapter", required=True, help=f"Adapter: a folder, {_ADAPTER_KINDS}"
)
optional_adapter_opt: Callable[[F], F] = click.option(
    "--adapter",
    multiple=True,
    help=f"Adapter: a folder, model.onnx, {_ADAPTER_KINDS} Repeat it for several adapters of one base, "
    "run together on each tile read "
    "(outputs <stem>_<label>_pred.tif, the label from the adapter's name). Default: the bundled offline "
    "demo model.",
)
checkpoint_opt: Callable[[F], F] = click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Local copy of the official base checkpoint (for offline use).",
)
overwrite_opt: Callable[[F], F] = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
precision_opt: Callable[[F], F] = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="fp16: torch on a GPU; bf16: torch on a GPU or a CPU with native bf16 (AVX512-BF16, AMX); "
    "int8: --runtime onnx only.",
)


def positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A click callback: `value` if it is a finite positive number (or None)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite positive number, got {value}")
    return value


def vector_options_opt(command: F) -> F:
    """The options of how polygons are cleaned; `vector_options` makes them a `VectorOptions`."""
    options = [
        click.option(
            "--simplify", type=click.FloatRange(min=0), default=1.0, show_default=True,
            help="Polygon simplification tolerance in pixels; shared boundaries stay shared (no gaps or "
            "overlaps). 0: pixel outlines.",
        ),
        click.option(
            "--min-area", type=click.FloatRange(min=0), default=0.0, show_default=True,
            help="Leave out polygons below this area (in --area-unit), after filling their holes.",
        ),
        click.option(
            "--fill-holes", type=click.FloatRange(min=0), default=0.0, show_default=True,
            help="Fill holes below this area (in --area-unit); what lay in them is left out.",
        ),
        click.option(
            "--area-unit", type=click.Choice(AREA_UNITS), default="m2", show_default=True,
            help="Unit of --min-area and --fill-holes: ground square metres or pixels.",
        ),
        click.option(
            "--vector-classes", metavar="NAME,...", help="Write the polygons of these classes only."
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def vector_options(
    simplify: float, min_area: float, fill_holes: float, area_unit: str, vector_classes: str | None
) -> VectorOptions:
    """The `VectorOptions` of `vector_options_opt`'s flags."""
    classes = None if vector_classes is None else tuple(c.strip() for c in vector_classes.split(","))
    return VectorOptions(simplify, min_area, fill_holes, area_unit, classes)
