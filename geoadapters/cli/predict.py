"""``geoadapters predict``: segment GeoTIFF scenes with a base model and an adapter."""

import glob
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from geoadapters.cli.options import (
    checkpoint_opt,
    optional_adapter_opt,
    optional_model_opt,
    overwrite_opt,
    precision_opt,
)
from geoadapters.default import DEFAULT_ADAPTER, DEFAULT_BASE
from geoadapters.errors import OutputExistsError, RasterError

__all__ = ["predict_command"]


def _sources(patterns: tuple[str, ...]) -> list[Path]:
    """Paths of the arguments, with glob patterns (quoted on the shell) expanded."""
    from geoadapters.raster.read import refuse_url

    paths: list[Path] = []
    for pattern in patterns:
        refuse_url(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise click.BadParameter(f"no file matches {pattern!r}", param_hint="SCENE")
        paths += [Path(m) for m in matches]
    return paths


def _output(source: Path, output: Path | None, many: bool) -> Path:
    from geoadapters.inference.predict import default_output

    if output is None:
        return default_output(source)
    if output.suffix and output.suffix.lower() not in (".tif", ".tiff") and not output.is_dir():
        raise RasterError(f"-o {output}: outputs are GeoTIFFs; give a .tif file or a folder")
    if many or output.is_dir() or not output.suffix:
        return default_output(source, output)
    return output


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing path (hard links and symlinks share it), else None."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _targets(sources: list[Path], output: Path | None) -> list[Path]:
    """The output of each source, checked before the first prediction.

    Two sources sharing one output, or an output that is one of the inputs (the same file, a hard
    link or a symlink), is an error.
    """
    targets = [_output(source, output, len(sources) > 1) for source in sources]
    seen: dict[str, Path] = {}
    for source, target in zip(sources, targets, strict=True):
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise OutputExistsError(
                f"{seen[key]} and {source} would both be written to {target}; predict them into "
                "separate folders (-o) or rename one"
            )
        seen[key] = source
    inputs = {_identity(source): source for source in sources} | {None: Path()}
    for target in targets:
        hit = _identity(target)
        if hit is not None and hit in inputs:
            raise RasterError(f"the output {target} is the input scene {inputs[hit]}: give another -o")
    return targets


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite positive number, got {value}")
    return value


def _default_line() -> str:
    """The one line that says the bundled model is used, with its held-out metric from its config."""
    from geoadapters.hub.folder import read_config

    config = read_config(DEFAULT_ADAPTER)
    water = config.metrics.get("test", {}).get("IoU", {}).get("Water")
    metric = "" if water is None else f", held-out water IoU {water:.1f}"
    return (
        f"no --model/--adapter given: using the bundled offline demo model ({config.name}{metric}; "
        "trained from random weights on one chip, not a substitute for the published adapters)"
    )


def _base_used(model: Any, checkpoint: Path | None) -> str:
    """The base weights the model runs on, as loaded (not as the adapter claims)."""
    spec = model.encoder.spec
    if model.config.method.carries_base_weights:
        return f"{spec.name}: every weight from the adapter (a full fine-tune; no official weights used)"
    if checkpoint is not None:
        return f"{spec.name}: {checkpoint}"
    return f"{spec.name}: {spec.weights.repo_id}/{spec.weights.filename} @ {spec.weights.revision}"


@click.command("predict", short_help="Segment GeoTIFF scenes.")
@click.argument("scenes", nargs=-1, required=True, metavar="SCENE...")
@optional_model_opt
@optional_adapter_opt
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (one scene) or folder.")
@click.option(
    "--tile-size", type=click.IntRange(16, 4096), help="Tile side in pixels (default: the adapter's)."
)
@click.option(
    "--overlap", type=click.IntRange(min=0), help="Overlap of neighbouring tiles (default: the adapter's)."
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Tiles per forward pass.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--runtime", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True)
@precision_opt
@click.option("--probabilities", is_flag=True, help="Add a float band of probability per class.")
@click.option("--bands", help="File bands to use: numbers in the model's band order (2,3,4,5,6,7), "
              "or names of all the file's bands in file order. Default: the band descriptions.")  # fmt: skip
@click.option(
    "--scale",
    type=float,
    callback=_positive,
    help="Factor from file values to the adapter's units (e.g. 0.0001).",
)
@click.option("--nodata", type=float, help="Nodata value of the input, overriding its metadata.")
@click.option(
    "--inputs",
    type=click.Choice(["any", "geotiff"]),
    default="any",
    show_default=True,
    help="geotiff: open GeoTIFF/COG inputs only (VRTs and other formats can read other local files).",
)
@click.option(
    "--base-revision", help="Hub revision of the official base weights (default: the catalog's pinned one)."
)
@click.option(
    "--memory-budget",
    type=float,
    callback=_positive,
    help="GB that the model and a scene's buffers may take (default: $GEOADAPTERS_MEMORY_GB or 80%% of RAM).",
)
@checkpoint_opt
@overwrite_opt
def predict_command(
    scenes: tuple[str, ...],
    base: str | None,
    adapter: str | None,
    output: Path | None,
    tile_size: int | None,
    overlap: int | None,
    batch_size: int | None,
    device: str,
    runtime: str,
    precision: str,
    probabilities: bool,
    bands: str | None,
    scale: float | None,
    nodata: float | None,
    inputs: str,
    base_revision: str | None,
    memory_budget: float | None,
    checkpoint: Path | None,
    overwrite: bool,
) -> None:
    """Write a georeferenced class map (a Cloud-Optimised GeoTIFF) for each SCENE.

    Outputs are <stem>_pred.tif next to each scene, or in --output. Scenes of any size are streamed
    in tiles whose overlaps are blended, so memory stays bounded and tile borders leave no seams.
    Without --model and --adapter, the bundled offline demo model is used.
    """
    from tqdm import tqdm

    from geoadapters._staging import check_overwrite
    from geoadapters.factory import load
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.runtime import make_runner

    if (base is None) != (adapter is None):
        raise click.UsageError("give --model and --adapter together, or neither for the bundled demo model")
    if base is None or adapter is None:
        base, adapter = DEFAULT_BASE, DEFAULT_ADAPTER
        click.echo(_default_line())
    sources = _sources(scenes)
    targets = _targets(sources, output)
    for target in targets:
        check_overwrite(target, overwrite)  # before the first prediction, not after some
    model = load(
        base, adapter, checkpoint=checkpoint, base_revision=base_revision, memory_budget_gb=memory_budget
    )
    click.echo(f"base  {_base_used(model, checkpoint)}")
    runner = make_runner(
        model, runtime=runtime, device=None if device == "auto" else device, precision=precision
    )
    band_list = [b.strip() for b in bands.split(",")] if bands else None
    interactive = sys.stderr.isatty()
    for source, target in zip(sources, targets, strict=True):
        with tqdm(total=0, unit="tile", desc=source.name, disable=not interactive, leave=False) as bar:

            def progress(done: int, total: int, bar: tqdm = bar, name: str = source.name) -> None:
                if not interactive:  # logs and batch jobs: a line every 10 %
                    step = max(1, total // 10)
                    if done // step != (done - bar.n) // step or done == total:
                        click.echo(f"{name}: {done}/{total} tiles")  # stderr stays for errors
                bar.total = total
                bar.update(done - bar.n)

            report = predict_raster(
                source,
                target,
                runner,
                tile_size=tile_size,
                overlap=overlap,
                batch_size=batch_size,
                probabilities=probabilities,
                bands=band_list,
                scale=scale,
                nodata=nodata,
                overwrite=overwrite,
                progress=progress,
                geotiff_only=inputs == "geotiff",
                memory_budget_gb=memory_budget,
            )
        tiles = f"{report.computed}/{report.tiles} tiles"
        click.echo(f"{report.output}  ({tiles}, {report.seconds:.1f} s, {report.runner})")
        total = sum(report.class_pixels.values())
        shares = ", ".join(f"{name} {count / total:.1%}" for name, count in report.class_pixels.items())
        click.echo(f"  {total:,} px: {shares}")
