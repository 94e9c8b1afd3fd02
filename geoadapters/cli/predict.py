"""``geoadapters predict``: segment GeoTIFF scenes with an adapter (and its base model, or an ONNX file).

Everything that can be checked cheaply is checked before torch is imported: the outputs (not there
unless --overwrite, not written twice, never one of the inputs), the adapter's contract
(``geoadapter.json`` or the ONNX file's metadata) and each scene (exists, opens, CRS, bands, tiles).
An output problem stops the command before anything is written; a bad scene in a batch is reported by
name and skipped, and the batch ends with a summary and exit code 1 if any scene failed.
"""

import datetime
import glob
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import click

from geoadapters.cli.options import (
    checkpoint_opt,
    model_opt,
    optional_adapter_opt,
    overwrite_opt,
    precision_opt,
)
from geoadapters.config import AdapterConfig
from geoadapters.default import DEFAULT_ADAPTER
from geoadapters.errors import DeviceError, GeoAdaptersError, OutputExistsError, RasterError
from geoadapters.specs import SceneMetadata

if TYPE_CHECKING:
    from geoadapters.geomodel import GeoModel
    from geoadapters.inference.many import ModelRef

__all__ = ["predict_command"]

_VECTOR_FORMATS = ("gpkg", "geojson")


@dataclass(frozen=True)
class _Job:
    """One scene to predict and the files it writes."""

    source: Path | str  # str: a URL or GDAL network path; the first frame's with --frames
    output: Path
    vector: Path | None
    frames: tuple[Path | str, ...]  # the scene's files: the source, or one per frame with --frames

    @property
    def scene(self) -> Path | str | list[Path | str]:
        """What `predict_raster` and `Scene` take: the file, or the frames' files."""
        return list(self.frames) if len(self.frames) > 1 else self.source


def _sources(patterns: tuple[str, ...]) -> list[Path | str]:
    """Paths of the arguments, with glob patterns (quoted on the shell) expanded; URLs as they are."""
    from geoadapters.raster.remote import gdal_path

    paths: list[Path | str] = []
    for pattern in patterns:
        if gdal_path(pattern) is not None:
            paths.append(pattern)
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise click.BadParameter(f"no file matches {pattern!r}", param_hint="SCENE")
        paths += [Path(m) for m in matches]
    return paths


def _output(source: Path | str, output: Path | None, many: bool) -> Path:
    from geoadapters.raster.write import default_output

    if output is None:
        return default_output(source)
    if output.suffix and output.suffix.lower() not in (".tif", ".tiff") and not output.is_dir():
        raise RasterError(f"-o {output}: outputs are GeoTIFFs; give a .tif file or a folder")
    if many or output.is_dir() or not output.suffix:
        return default_output(source, output)
    return output


def _vector(target: Path, vector: str | None, many: bool) -> Path | None:
    if vector is None:
        return None
    if vector.lower() in _VECTOR_FORMATS:
        return target.with_suffix(f".{vector.lower()}")
    if many:
        raise click.BadParameter(
            f"with several scenes give a format ({', '.join(_VECTOR_FORMATS)}), not one file",
            param_hint="--vector",
        )
    return Path(vector)


def _identity(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of an existing path (hard links and symlinks share it), else None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _jobs(
    sources: list[Path | str], output: Path | None, vector: str | None, probabilities: bool, frames: bool
) -> list[_Job]:
    """The outputs of each source (of the one scene the sources are the frames of), checked up front.

    Two outputs that are one file, or an output that is one of the inputs (the same file, a hard link
    or a symlink), is an error of the whole command.
    """
    scenes = [tuple(sources)] if frames else [(source,) for source in sources]
    many = len(scenes) > 1
    jobs = []
    for scene in scenes:
        target = _output(scene[0], output, many)
        jobs.append(_Job(scene[0], target, _vector(target, vector, many), scene))
    seen: dict[str, Path | str] = {}
    inputs = {_identity(source): source for source in sources} | {None: Path()}
    for job in jobs:
        for path in [job.output, *_extras(job, probabilities)]:
            key = os.path.normcase(os.path.abspath(path))
            if key in seen:
                raise OutputExistsError(
                    f"{seen[key]} and {job.source} would both be written to {path}; predict them into "
                    "separate folders (-o) or rename one"
                )
            seen[key] = job.source
            hit = _identity(path)
            if hit is not None and hit in inputs:
                raise RasterError(f"the output {path} is the input scene {inputs[hit]}: give another -o")
    return jobs


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite positive number, got {value}")
    return value


def _adapter_config(adapter: str, base: str | None) -> AdapterConfig:
    """The adapter's config, from its folder, Hub repository or ONNX file, checked against `base`."""
    from geoadapters.catalog import get_base
    from geoadapters.hub.folder import read_config
    from geoadapters.inference.onnx_file import is_onnx_file, read_onnx_metadata

    if base is not None:
        get_base(base)
    if is_onnx_file(adapter):
        config, _, _ = read_onnx_metadata(adapter)
        config.check_base(base, adapter, carries_weights=True)
        return config
    folder = Path(adapter).expanduser()  # a local folder needs no Hub client (the slowest import)
    if not folder.is_dir():
        from geoadapters.hub.refs import resolve_adapter

        folder = resolve_adapter(adapter, base)
    config = read_config(folder)
    config.check_base(base, adapter)
    return config


def _writable(path: Path) -> None:
    """Refuse a destination whose nearest existing folder is not writable."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RasterError(f"cannot write into {path.parent}: {folder} is not writable")


def _check(
    job: _Job,
    config: AdapterConfig,
    *,
    tile_size: int,
    overlap: int,
    bands: list[str] | None,
    nodata: float | None,
    resample: bool,
    geotiff_only: bool,
    metadata: SceneMetadata,
) -> None:
    """The cheap checks of one scene and its outputs (no torch).

    Raises:
        GeoAdaptersError: What is wrong, in one line.
    """
    from geoadapters.inference.tiling import TileGrid
    from geoadapters.raster.metadata import check_frame_dates, check_gsd
    from geoadapters.raster.read import Scene

    with Scene(
        job.scene, config.input.bands, bands=bands, nodata=nodata, geotiff_only=geotiff_only,
        frames=config.frames,
    ) as scene:  # fmt: skip
        if not resample:
            check_gsd(scene.dataset, config.input, scene.path)
        check_frame_dates(scene.dates, metadata)
        try:
            TileGrid(scene.height, scene.width, tile_size, overlap, align=config.input_multiple)
        except ValueError as err:
            raise RasterError(f"cannot tile {scene.path}: {err}") from err
    for path in (job.output, job.vector):
        if path is not None:
            _writable(path)


def _default_line() -> str:
    """The one line that says the bundled model is used, with its held-out metric from its config."""
    from geoadapters.hub.folder import read_config

    config = read_config(DEFAULT_ADAPTER)
    water = config.metrics.get("test", {}).get("IoU", {}).get("Water")
    metric = "" if water is None else f", held-out water IoU {water:.1f}"
    return (
        f"no --adapter given: using the bundled offline demo model ({config.name}{metric}; "
        "trained from random weights on one chip, not a substitute for the published adapters)"
    )


@click.command("predict", short_help="Segment GeoTIFF scenes.")
@click.argument("scenes", nargs=-1, required=True, metavar="SCENE...")
@model_opt
@optional_adapter_opt
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (one scene) or folder.")
@click.option(
    "--tile-size", type=click.IntRange(16, 4096), help="Tile side in pixels (default: the adapter's)."
)
@click.option(
    "--overlap", type=click.IntRange(min=0), help="Overlap of neighbouring tiles (default: the adapter's)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Tiles per forward pass [default: what a GPU's free memory holds, else the adapter's].",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option(
    "--runtime",
    type=click.Choice(["torch", "onnx"]),
    help="Default: onnx for an --adapter that is an .onnx file, else torch.",
)
@precision_opt
@click.option(
    "--probabilities", is_flag=True, help="Also write <stem>_proba.tif, one probability band per class."
)
@click.option(
    "--probability-dtype",
    type=click.Choice(["uint8", "float32"]),
    default="uint8",
    show_default=True,
    help="uint8: percent (sums to 100 per pixel); float32: 0 to 1.",
)
@click.option(
    "--vector",
    metavar="FILE|gpkg|geojson",
    help="Also write class polygons (class, pixels, area) to FILE.gpkg or FILE.geojson, or with a format "
    "name to <stem>_pred.<format> beside each class map.",
)
@click.option("--bands", help="File bands to use: numbers in the model's band order (2,3,4,5,6,7), "
              "or names of all the file's bands in file order. Default: the band descriptions.")  # fmt: skip
@click.option(
    "--resample",
    is_flag=True,
    help="Read a scene whose pixel size is over 1.5x off the adapter's GSD warped to that GSD; "
    "outputs stay on the scene's grid.",
)
@click.option(
    "--frames",
    is_flag=True,
    help="The SCENE files are the frames (dates) of one scene, in time order, on one grid, for models "
    "of several frames; the output is named after the first. A model of several frames reads a single "
    "file as a multi-date stack (its bands frame after frame).",
)
@click.option(
    "--date",
    type=click.DateTime(["%Y-%m-%d"]),
    multiple=True,
    help="Acquisition date for models that take one (-TL, Clay); once per frame for models of several "
    "frames. Default: from the tags or file name.",
)
@click.option("--lat", type=click.FloatRange(-90, 90), help="Latitude of the scene; default: its centre.")
@click.option("--lon", type=click.FloatRange(-180, 180), help="Longitude of the scene; default: its centre.")
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
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Predict the scenes on a local Dask cluster of N worker processes (the dask extra).",
)
@click.option(
    "--scheduler", metavar="ADDRESS", help="Predict the scenes on this Dask cluster (tcp://HOST:PORT)."
)
@click.option(
    "--split",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --workers/--scheduler: cut each scene into N blocks of tile rows that run on several "
    "workers (for a huge scene; the output is the same).",
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
    runtime: str | None,
    precision: str,
    probabilities: bool,
    probability_dtype: str,
    vector: str | None,
    bands: str | None,
    resample: bool,
    frames: bool,
    date: tuple[datetime.datetime, ...],
    lat: float | None,
    lon: float | None,
    scale: float | None,
    nodata: float | None,
    inputs: str,
    base_revision: str | None,
    memory_budget: float | None,
    workers: int | None,
    scheduler: str | None,
    split: int,
    checkpoint: Path | None,
    overwrite: bool,
) -> None:
    """Write a georeferenced class map (a Cloud-Optimised GeoTIFF) for each SCENE.

    Outputs are <stem>_pred.tif next to each scene, or in --output, with class names and colours that
    GDAL and QGIS show. Scenes of any size are streamed in tiles whose overlaps are blended, so memory
    stays bounded and tile borders leave no seams. A failing scene of several is reported and skipped.
    Without --adapter, the bundled offline demo model is used. With --workers or --scheduler the scenes
    are tasks on a Dask cluster, and a scene whose output was made from the same file and run is skipped.
    """
    from geoadapters._staging import check_overwrite
    from geoadapters.inference.onnx_file import is_onnx_file

    if adapter is None:
        if base is not None:
            raise click.UsageError("--model needs an --adapter; give neither for the bundled demo model")
        adapter = DEFAULT_ADAPTER
        click.echo(_default_line())
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if split > 1 and workers is None and scheduler is None:
        raise click.UsageError("--split runs blocks on a Dask cluster: give --workers or --scheduler")
    if split > 1 and resample:
        raise click.UsageError("--split and --resample do not combine: a resampled scene is not split")
    sources = _sources(scenes)
    jobs = _jobs(sources, output, vector, probabilities, frames)
    total = len(jobs)  # scenes (the files of one with --frames)
    many = total > 1
    band_list = [b.strip() for b in bands.split(",")] if bands else None
    metadata = SceneMetadata(tuple(d.date() for d in date), lat, lon)
    options: dict[str, object] = dict(
        tile_size=tile_size, overlap=overlap, batch_size=batch_size, probabilities=probabilities,
        probability_dtype=probability_dtype, bands=band_list, scale=scale, nodata=nodata,
        metadata=metadata, resample=resample,
        geotiff_only=inputs == "geotiff", memory_budget_gb=memory_budget,
    )  # fmt: skip
    ref = None
    skipped: list[_Job] = []
    if workers is not None or scheduler is not None:
        from geoadapters.inference.many import ModelRef, run_identity, up_to_date

        ref = ModelRef(
            adapter, base, None if checkpoint is None else str(checkpoint), base_revision,
            runtime or ("onnx" if is_onnx_file(adapter) else "torch"), None if device == "auto" else device,
            precision, memory_budget,
        )  # fmt: skip
        if not overwrite:  # resume: outputs made from the same scenes by the same run are kept
            run = run_identity(ref, options)
            skipped = [
                job for job in jobs if up_to_date(job.output, job.scene, run, _extras(job, probabilities))
            ]
            jobs = [job for job in jobs if job not in skipped]
            for job in skipped:
                click.echo(f"{job.output}  (up to date, skipped)")
    for job in jobs:
        for path in [job.output, *_extras(job, probabilities)]:
            check_overwrite(path, overwrite)  # before the first prediction, not after some
    onnx_file = is_onnx_file(adapter)
    runtime = runtime or ("onnx" if onnx_file else "torch")
    if onnx_file and runtime != "onnx":
        raise DeviceError(f"{adapter} is an ONNX file: run it with --runtime onnx (the default for .onnx)")
    for source in sources if not many else ():  # the commonest mistake, before anything is imported
        if isinstance(source, Path) and not source.exists():
            raise RasterError(f"{source}: no such file")
    config = _adapter_config(adapter, base)
    if date and len(date) != config.frames:
        raise click.BadParameter(
            f"given {len(date)} times; the model takes {config.frames} frame(s), a date each",
            param_hint="--date",
        )
    tile = tile_size or config.inference.tile_size
    checked: list[_Job] = []
    failed: list[tuple[Path | str, GeoAdaptersError]] = []
    for job in jobs:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _check(
                    job, config, tile_size=tile,
                    overlap=config.inference.overlap if overlap is None else overlap,
                    bands=band_list, nodata=nodata, resample=resample, geotiff_only=inputs == "geotiff",
                    metadata=metadata,
                )  # fmt: skip
            for warning in caught:
                click.echo(f"warning: {warning.message}", err=True)
        except GeoAdaptersError as err:
            if not many:
                raise
            failed.append((job.source, err))
            click.echo(f"error: {err}", err=True)
            continue
        checked.append(job)
    if checked and ref is not None:
        failed += _run_many(checked, ref, vector, scheduler, workers, split, overwrite, options)
    elif checked:
        what = adapter if onnx_file else f"{config.base.name} + {adapter}"
        if sys.stderr.isatty():  # like the progress bar: on a terminal only, so errors stay one line
            click.echo(f"{len(checked)} scene(s) checked; loading {what} ({runtime})", err=True)
        failed += _run(
            checked, adapter, base, runtime, device, precision, checkpoint, many, overwrite,
            base_revision=base_revision, **options,
        )  # fmt: skip
    if ref is not None:
        done = len(jobs) - len(failed)  # failed: in the checks or on the cluster
        click.echo(f"{done} done, {len(skipped)} skipped, {len(failed)} failed of {total} scenes", err=True)
        if failed:
            names = ", ".join(str(source) for source, _ in failed)
            raise RasterError(f"{len(failed)} of {total} scenes failed: {names}")
        return
    if many:
        click.echo(f"{total - len(failed)} of {total} scenes written", err=True)
    if failed:
        names = ", ".join(str(source) for source, _ in failed)
        raise RasterError(f"{len(failed)} of {total} scenes failed: {names}")


def _extras(job: _Job, probabilities: bool) -> list[Path]:
    """The outputs of a job beside its class map."""
    from geoadapters.raster.write import outputs_beside

    return outputs_beside(job.output, probabilities, job.vector)


def _run_many(
    jobs: list[_Job],
    ref: "ModelRef",
    vector: str | None,
    scheduler: str | None,
    workers: int | None,
    split: int,
    overwrite: bool,
    options: dict[str, object],
) -> list[tuple[Path | str, GeoAdaptersError]]:
    """Predict the jobs on a Dask cluster; the scenes that failed, each reported in one line."""
    from tqdm import tqdm

    from geoadapters.inference.many import SceneResult, predict_many

    try:
        import distributed
    except ImportError as err:
        raise DeviceError("--workers and --scheduler need Dask: pip install 'geoadapters[dask]'") from err
    client = None
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
        except OSError as err:
            raise DeviceError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    failed: list[tuple[Path | str, GeoAdaptersError]] = []
    sources = {str(job.source): job.source for job in jobs}
    quiet = not sys.stderr.isatty()
    with (
        tqdm(total=len(jobs), unit="scene", disable=quiet, leave=False, position=0) as bar,
        tqdm(total=0, unit="tile", disable=quiet, leave=False, position=1) as tile_bar,
    ):

        def tiles(done: int, total: int) -> None:
            tile_bar.total = total
            tile_bar.update(done - tile_bar.n)

        def progress(result: SceneResult) -> None:
            bar.update()
            if result.status == "failed":
                failed.append((sources[result.source], RasterError(result.error)))
                tqdm.write(f"error: {result.error}", file=sys.stderr)
                return
            for line in result.warnings:
                tqdm.write(f"warning: {line}", file=sys.stderr)
            total = sum(result.class_pixels.values())
            shares = ", ".join(
                f"{name} {count / max(total, 1):.1%}" for name, count in result.class_pixels.items()
            )
            click.echo(f"{result.output}  ({result.computed}/{result.tiles} tiles, {result.seconds:.1f} s)")
            click.echo(f"  {total:,} px: {shares}")

        try:
            vectors = [job.vector for job in jobs] if vector is not None else None
            predict_many(
                [job.scene for job in jobs], ref, [job.output for job in jobs], vector=vectors,
                client=client, workers=workers, overwrite=overwrite, split=split, progress=progress,
                tiles=None if quiet else tiles, **options,
            )  # fmt: skip
        finally:
            if client is not None:
                client.close()  # type: ignore[no-untyped-call]
    return failed


def _run(
    jobs: list[_Job],
    adapter: str,
    base: str | None,
    runtime: str,
    device: str,
    precision: str,
    checkpoint: Path | None,
    many: bool,
    overwrite: bool,
    *,
    base_revision: str | None,
    **options: object,
) -> list[tuple[Path | str, GeoAdaptersError]]:
    """Load the model once and predict every job; the scenes that failed (several) or raise (one)."""
    from tqdm import tqdm

    from geoadapters.inference.onnx_file import is_onnx_file
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.runtime import make_runner
    from geoadapters.raster.metadata import FrameDateWarning, GsdWarning

    runner_device = None if device == "auto" else device
    if is_onnx_file(adapter):
        runner = make_runner(Path(adapter), runtime=runtime, device=runner_device, precision=precision)
    else:
        from geoadapters.factory import load

        budget = options["memory_budget_gb"]
        assert budget is None or isinstance(budget, float)
        refs = (base, adapter) if base else (adapter,)
        model = load(
            *refs, checkpoint=checkpoint, base_revision=base_revision, memory_budget_gb=budget, merged=True
        )
        click.echo(f"base  {_base_used(model, checkpoint)}")
        runner = make_runner(model, runtime=runtime, device=runner_device, precision=precision)
    failed: list[tuple[Path | str, GeoAdaptersError]] = []
    interactive = sys.stderr.isatty()
    for job in jobs:
        label = PurePosixPath(str(job.source)).name
        with tqdm(total=0, unit="tile", desc=label, disable=not interactive, leave=False) as bar:

            def progress(done: int, total: int, bar: tqdm = bar, name: str = label) -> None:
                if not interactive:  # logs and batch jobs: a line every 10 %
                    step = max(1, total // 10)
                    if done // step != (done - bar.n) // step or done == total:
                        click.echo(f"{name}: {done}/{total} tiles")  # stderr stays for errors
                bar.total = total
                bar.update(done - bar.n)

            try:
                with warnings.catch_warnings():
                    for shown in (GsdWarning, FrameDateWarning):  # by the checks already
                        warnings.simplefilter("ignore", shown)
                    report = predict_raster(
                        job.scene, job.output, runner, vector=job.vector, overwrite=overwrite,
                        progress=progress, **options,  # type: ignore[arg-type]
                    )  # fmt: skip
            except GeoAdaptersError as err:
                if not many:
                    raise
                failed.append((job.source, err))
                click.echo(f"error: {err}", err=True)
                continue
        tiles = f"{report.computed}/{report.tiles} tiles"
        click.echo(f"{report.output}  ({tiles}, {report.seconds:.1f} s, {report.runner})")
        for extra in (report.probabilities, report.vector):
            if extra is not None:
                click.echo(f"  {extra}")
        total = sum(report.class_pixels.values())
        shares = ", ".join(f"{name} {count / total:.1%}" for name, count in report.class_pixels.items())
        click.echo(f"  {total:,} px: {shares}")
    return failed


def _base_used(model: "GeoModel", checkpoint: Path | None) -> str:
    """The base weights the model runs on, as loaded (not as the adapter claims)."""
    spec = model.encoder.spec
    if model.config.method.carries_base_weights:
        return f"{spec.name}: every weight from the adapter (a full fine-tune; no official weights used)"
    if checkpoint is not None:
        return f"{spec.name}: {checkpoint}"
    return f"{spec.name}: {spec.weights.repo_id}/{spec.weights.filename} @ {spec.weights.revision}"
