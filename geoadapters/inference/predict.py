"""Tiled prediction of GeoTIFF scenes of any size, streamed in and out with bounded memory.

Tiles are read in windows, run through a runner (torch or ONNX, see `geoadapters.inference.runners`),
their logits blended with smooth windows (`geoadapters.inference.tiling`) and every finished strip of
rows is written at once; memory is a few tiles plus one strip of logits, whatever the scene's height.
Tiles with no data are not computed. The output keeps the input's CRS and transform, and appears only
when complete.
"""

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from geoadapters import __version__
from geoadapters.errors import AdapterError, RasterError
from geoadapters.inference.runners import Runner
from geoadapters.inference.tiling import StripAccumulator, TileGrid
from geoadapters.raster.metadata import check_gsd, scene_metadata
from geoadapters.raster.read import Scene
from geoadapters.raster.vector import PolygonWriter
from geoadapters.raster.write import PredictionWriter, default_output, probability_path
from geoadapters.specs import SceneMetadata

__all__ = ["PredictReport", "default_output", "predict_raster"]

# GDAL's block cache (default 5 % of RAM) would otherwise grow with the scene.
_GDAL_CACHE_MB = 256

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PredictReport:
    """What one prediction did.

    Attributes:
        source: Input scene.
        output: Written prediction.
        tiles: Tiles in the grid.
        computed: Tiles run through the model (tiles without data are skipped).
        seconds: Wall time.
        runner: Runtime, precision and device used.
        class_pixels: Pixels of each class in the written class map, by class name (nodata not counted).
        probabilities: Written probability COG, if asked for.
        vector: Written polygon file, if asked for.
    """

    source: Path
    output: Path
    tiles: int
    computed: int
    seconds: float
    runner: str
    class_pixels: Mapping[str, int]
    probabilities: Path | None = None
    vector: Path | None = None


def _batches(grid: TileGrid, size: int) -> Iterator[list[tuple[int, int, int, int]]]:
    """(row index, column index, y, x) of the grid's tiles in raster order, `size` at a time."""
    batch = []
    for r, row in grid.row_tiles():
        for c, (y, x) in enumerate(row):
            batch.append((r, c, y, x))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def predict_raster(
    source: str | Path,
    output: str | Path | None,
    runner: Runner,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    probabilities: bool = False,
    probability_dtype: str = "uint8",
    vector: str | Path | None = None,
    metadata: SceneMetadata | None = None,
    bands: Sequence[str] | None = None,
    scale: float | None = None,
    nodata: float | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> PredictReport:
    """Predict a scene and write a georeferenced class map as a COG (and probabilities, polygons).

    Args:
        source: Input raster.
        output: Output path; None writes ``<stem>_pred.tif`` next to the source.
        runner: Model runtime; its config is the adapter's input contract and tiling defaults.
        tile_size: Tile side; default from the adapter.
        overlap: Overlap of neighbouring tiles (at most half a tile); default from the adapter.
        batch_size: Tiles per forward pass; default from the adapter.
        probabilities: Also write ``<stem>_proba.tif``: one band of softmax probability per class.
        probability_dtype: ``uint8`` (percent, summing to 100 per pixel; nodata 255) or ``float32``
            (0 to 1; nodata NaN).
        vector: Also write the class map's polygons into this ``.gpkg`` or ``.geojson`` file (class,
            value, pixels and area in square CRS units; merged across tile borders; scene CRS).
        metadata: Date, centre and GSD for models that take them (-TL, Clay); fields left unset are
            derived from the scene (`geoadapters.raster.metadata.scene_metadata`).
        bands: File bands to use: numbers in the model's band order, or names of all the file's bands
            (see `geoadapters.raster.read.resolve_bands`); default from the band descriptions.
        scale: Factor from the file's values to the units the adapter normalises (replaces the
            adapter's ``input.scale``, e.g. 0.0001 for reflectance x 10000 when it expects reflectance).
        nodata: The file's nodata value, overriding its metadata.
        overwrite: Replace an existing output.
        progress: Called with (tiles done, tiles in all) after each batch.

    Raises:
        RasterError: Unreadable, unreferenced or all-nodata scene, or unwritable output.
        BandError: The model's bands cannot be found in the file.
        OutputExistsError: An output exists and `overwrite` is False.

    Warns:
        GsdWarning: The scene's pixels differ from the adapter's GSD by more than 1.5x.
    """
    started = time.perf_counter()
    config = runner.config
    if config.task != "segmentation":
        raise AdapterError(f"predict writes per-pixel maps; this adapter's task is {config.task}")
    spec = config.input
    tile = tile_size or config.inference.tile_size
    overlap = config.inference.overlap if overlap is None else overlap
    batch_size = batch_size or config.inference.batch_size
    output = Path(output) if output is not None else default_output(source)
    factor = 1.0 if scale is None else scale / spec.scale
    # nodata pixels get each band's mean in file units, which normalises to 0
    fill = (np.asarray(spec.mean, np.float32) / (spec.scale * factor)).astype(np.float32)
    tags = {
        "geoadapters_version": __version__,
        "model": config.base.name,
        "adapter": config.name or "",
        "method": config.method.name,
        "runner": runner.description,
        "input_bands": json.dumps(list(spec.bands)),
    }
    computed = 0
    with (
        rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB),
        Scene(source, spec.bands, bands=bands, nodata=nodata) as scene,
    ):
        check_gsd(scene.dataset, spec)
        described = scene_metadata(scene.dataset, scene.path, metadata)
        try:
            grid = TileGrid(scene.height, scene.width, tile, overlap)
        except ValueError as err:
            raise RasterError(f"cannot tile {scene.path}: {err}") from err
        tags |= {"tile_size": str(tile), "overlap": str(overlap), "source_bands": json.dumps(scene.indexes)}
        any_data = False
        with contextlib.ExitStack() as outputs:
            polygons = None
            if vector is not None:
                polygons = outputs.enter_context(
                    PolygonWriter(vector, scene.dataset, classes=list(config.classes), overwrite=overwrite)
                )
            writer = outputs.enter_context(
                PredictionWriter(
                    output,
                    scene.dataset,
                    classes=config.classes,
                    colors=config.colors,
                    probabilities=probability_dtype if probabilities else None,
                    tags=tags,
                    overwrite=overwrite,
                )
            )
            cols = len(grid.cols)
            in_flight = 1 + math.ceil((batch_size - 1) / cols)  # tile rows one batch can span
            strip = StripAccumulator(grid, len(config.classes), in_flight)
            rows = grid.rows
            done = emitted = 0  # tiles run; tile rows whose finished scene rows are written
            for batch in _batches(grid, batch_size):
                reads = [scene.read(y, x, tile, fill) for _, _, y, x in batch]
                with_data = [i for i, (_, valid) in enumerate(reads) if valid.any()]
                if with_data:
                    raw = np.stack([reads[i][0] for i in with_data]) * np.float32(factor)
                    logits = runner(raw, described)
                    for k, i in enumerate(with_data):
                        r, c, y, x = batch[i]
                        strip.add(y, x, logits[k], grid.weights(r, c), reads[i][1])
                    computed += len(with_data)
                    any_data = True
                done += len(batch)
                if progress is not None:
                    progress(done, len(grid))
                last_r, last_c, _, _ = batch[-1]
                complete = last_r if last_c == cols - 1 else last_r - 1  # last tile row fully added
                while emitted <= complete:
                    until = rows[emitted + 1] if emitted + 1 < len(rows) else scene.height
                    row, mean_logits, valid = strip.emit(until)
                    labels = writer.write(row, mean_logits, valid)
                    if polygons is not None:
                        polygons.write(row, labels, valid)
                    emitted += 1
            if not any_data:
                raise RasterError(f"{scene.path} has no valid pixels (all nodata or NaN): nothing to predict")
        class_pixels = dict(zip(config.classes, map(int, writer.class_pixels), strict=True))
    return PredictReport(
        Path(source),
        output,
        len(grid),
        computed,
        time.perf_counter() - started,
        runner.description,
        class_pixels,
        probability_path(output) if probabilities else None,
        Path(vector) if vector is not None else None,
    )
