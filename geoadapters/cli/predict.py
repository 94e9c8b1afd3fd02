"""``geoadapters predict``: segment GeoTIFF scenes with an adapter (and its base model, or an ONNX file).

The command parses its flags into a `ModelRef` and `PredictOptions` and runs
`geoadapters.inference.scenes.predict_many`, which checks every scene and output before torch is
imported; `geoadapters.cli.progress` prints what the run tells.
"""

import datetime
from pathlib import Path

import click

from geoadapters.cli.cluster import check_scale_out, connect, scale_out_opt
from geoadapters.cli.options import (
    checkpoint_opt,
    model_opt,
    optional_adapter_opt,
    overwrite_opt,
    positive,
    precision_opt,
    vector_options,
    vector_options_opt,
)
from geoadapters.cli.progress import Progress
from geoadapters.config import MAX_TILE
from geoadapters.default import DEFAULT_NAME
from geoadapters.errors import PartialError, RasterError
from geoadapters.inference.request import RUNTIMES, TTA_MODES, ModelRef, PredictOptions
from geoadapters.raster.outputs import PROBABILITY_DTYPES
from geoadapters.specs import SceneMetadata

__all__ = ["predict_command"]

_VECTOR_FORMATS = "FILE|gpkg|geojson|parquet"


@click.command("predict", short_help="Segment GeoTIFF scenes.")
@click.argument("scenes", nargs=-1, required=True, metavar="SCENE...")
@model_opt
@optional_adapter_opt
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (one scene) or folder.")
@click.option(
    "--tile-size", type=click.IntRange(16, MAX_TILE), help="Tile side in pixels (default: the adapter's)."
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
    type=click.Choice(RUNTIMES),
    help="Default: onnx for an --adapter that is an .onnx file, else torch.",
)
@precision_opt
@click.option(
    "--probabilities", is_flag=True, help="Also write <stem>_pred_proba.tif, one probability band per class."
)
@click.option(
    "--probability-dtype",
    type=click.Choice(PROBABILITY_DTYPES),
    default="uint8",
    show_default=True,
    help="uint8: percent (sums to 100 per pixel); float32: 0 to 1.",
)
@click.option(
    "--vector",
    metavar=_VECTOR_FORMATS,
    help="Also write cleaned class polygons (class, value, pixels, area_m2, confidence) to FILE.gpkg, "
    "FILE.geojson or FILE.parquet (GeoParquet), or with a format name to <stem>_pred.<format> beside each "
    "class map. Cost: about 4 s of CPU per 4096 x 4096 px of polygons, in a child process beside the "
    "model: 1.25x the raster run of the bundled model (small tiles: the polygons' largest share), 1.14x "
    "with the model on one thread (OMP_NUM_THREADS=1, of its own raster run), on a 2-core CPU; about 5 % "
    "of a prithvi-100 run (benchmarks/vector.py, docs/performance.md).",
)
@vector_options_opt
@click.option(
    "--uncertainty",
    is_flag=True,
    help="Also write <stem>_pred_uncertainty.tif: 1 - the largest class probability (float32, from 0 to "
    "1 - 1/classes).",
)
@click.option(
    "--tta",
    type=click.Choice(TTA_MODES),
    help="Average each tile's probabilities over its 4 flips or 8 dihedral transforms (d4): 4x or 8x the "
    "model's time, the same memory.",
)
@click.option(
    "--areas",
    is_flag=True,
    help="Also write <stem>_pred_areas.csv and .json (m2, ha, share per class); with several scenes also "
    "areas_summary.csv and .json of the scenes predicted, in the output folder (replaced each run).",
)
@click.option(
    "--stac",
    is_flag=True,
    help="Also write <stem>_pred.stac.json, a STAC Item of the outputs (scene, adapter, base, settings); "
    "with several scenes also collection.json in the output folder (replaced each run).",
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
    callback=positive,
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
@scale_out_opt
@checkpoint_opt
@overwrite_opt
def predict_command(
    scenes: tuple[str, ...],
    base: str | None,
    adapter: tuple[str, ...],
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
    simplify: float,
    min_area: float,
    fill_holes: float,
    area_unit: str,
    vector_classes: str | None,
    uncertainty: bool,
    tta: str | None,
    areas: bool,
    stac: bool,
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
    GDAL and QGIS show. Scenes of any size are streamed in tiles on the model's patch grid (overlaps,
    if the adapter or --overlap asks, are blended), so memory stays bounded and tile borders leave no
    seams. A failing scene of several is reported and skipped.
    A scene whose outputs were made from the same file by the same run is skipped (up to date).
    With --adapter given several times (adapters of one base), each tile is read once and run through
    every adapter, and each writes its own <stem>_<label>_pred.tif (and the files beside it).
    Without --adapter, the bundled offline demo model is used. With --workers or --scheduler the scenes
    are tasks on a Dask cluster.
    """
    from geoadapters.inference.jobs import expand_scenes
    from geoadapters.inference.scenes import predict_many

    if not adapter and base is not None:
        raise click.UsageError("--model needs an --adapter; give neither for the bundled demo model")
    check_scale_out(workers, scheduler, split, resample)
    sources = expand_scenes(scenes)
    given = None if checkpoint is None else str(checkpoint)
    on = None if device == "auto" else device
    models = [
        ModelRef(name, base, given, base_revision, runtime, on, precision, memory_budget)
        for name in adapter or (DEFAULT_NAME,)
    ]
    options = PredictOptions(
        tile_size=tile_size, overlap=overlap, batch_size=batch_size, probabilities=probabilities,
        probability_dtype=probability_dtype, metadata=SceneMetadata(tuple(d.date() for d in date), lat, lon),
        resample=resample, bands=tuple(b.strip() for b in bands.split(",")) if bands else None, scale=scale,
        nodata=nodata, geotiff_only=inputs == "geotiff", memory_budget_gb=memory_budget,
        uncertainty=uncertainty, tta=tta, areas=areas, stac=stac,
        vector_options=vector_options(simplify, min_area, fill_holes, area_unit, vector_classes),
    )  # fmt: skip
    client = None
    if scheduler is not None:
        client = connect(scheduler)
    many = (not frames and len(sources) > 1) or len(models) > 1
    events = Progress(models[0], default=not adapter, many=many)
    try:
        report = predict_many(
            [sources] if frames else sources, models, output, options=options, vector=vector,
            overwrite=overwrite, client=client, workers=workers, split=split, events=events,
        )  # fmt: skip
    finally:
        events.close()
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]
    if len(report.results) > 1 and len(models) == 1:  # one adapter's batch: summed over its scenes
        folder = output if output is not None and output.is_dir() else Path()
        for path in report.write_batch(folder, areas=areas, stac=stac):
            click.echo(f"  {path}", err=True)
    failed = report.failed
    if len(report.results) == 1 and failed:
        raise RasterError(failed[0].error)
    if len(report.results) > 1 or client is not None or workers is not None:
        click.echo(report.summary(), err=True)
    if failed:
        names = ", ".join(dict.fromkeys(r.source for r in failed))
        problem = f"{len(failed)} of {len(report.results)} {report.unit} failed: {names}"
        if len(failed) < len(report.results):  # the others are written: exit code 3 says "partial"
            raise PartialError(problem)
        raise RasterError(problem)
