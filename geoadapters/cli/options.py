"""Options shared by several commands, defined once.

====================  =========================
option                commands
====================  =========================
--model, --adapter    export, info (--model only: the base of a short adapter name); predict (both
                      optional: neither means the bundled offline model)
--checkpoint          predict, export
--overwrite           predict, export, convert
--precision           predict
====================  =========================
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from geoadapters.inference import PRECISIONS

__all__ = [
    "CONTROLS",
    "adapter_opt",
    "checkpoint_opt",
    "model_opt",
    "optional_adapter_opt",
    "overwrite_opt",
    "precision_opt",
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
_ADAPTER_HELP = (
    "Adapter: a folder, model.onnx, org/name[@revision], or a name (<dataset>-<method> on --model; the "
    "bundled sen1floods11-tiny; a published fine-tune such as burn_scars-terratorch)."
)
adapter_opt: Callable[[F], F] = click.option("--adapter", required=True, help=_ADAPTER_HELP)
optional_adapter_opt: Callable[[F], F] = click.option(
    "--adapter", help=_ADAPTER_HELP + " Default: the bundled offline demo model."
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
    help="fp16/bf16: torch on a GPU; int8: --runtime onnx only.",
)
