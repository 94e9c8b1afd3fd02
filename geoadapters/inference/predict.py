"""Tiled prediction of GeoTIFF scenes of any size, streamed in and out with bounded memory.

Tiles are read in windows, run through a runner (torch or ONNX, see `geoadapters.inference.runners`),
their logits blended with smooth windows (`geoadapters.inference.tiling`) and every finished strip of
rows is written at once; memory is a few tiles plus one strip of logits, whatever the scene's height.
Tiles with no data are not computed. The output keeps the input's CRS and transform, and appears only
when complete. Scenes come from strangers: the memory a scene's size, the tile size and the batch need
is estimated before anything is allocated and refused above a budget (`memory_budget`), a sparse
GeoTIFF without any data is refused from its block index alone, and an output that is the input
itself (the same file, a hard link, a symlink) is refused.
"""

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from geoadapters import __version__
from geoadapters._serde import finite
from geoadapters.config import memory_budget
from geoadapters.errors import AdapterError, RasterError, ResourceError
from geoadapters.inference.runners import Runner
from geoadapters.inference.tiling import StripAccumulator, TileGrid
from geoadapters.raster.read import Scene
from geoadapters.raster.write import PredictionWriter

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
    """

    source: Path
    output: Path
    tiles: int
    computed: int
    seconds: float
    runner: str
    class_pixels: Mapping[str, int]


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


def default_output(source: str | Path, folder: str | Path | None = None) -> Path:
    """``<stem>_pred.tif`` next to the source, or in `folder`."""
    source = Path(source)
    return Path(folder or source.parent) / f"{source.stem}_pred.tif"


def _memory_needed(grid: TileGrid, bands: int, classes: int, batch_size: int, probabilities: bool) -> int:
    """Bytes of the buffers a prediction holds at once.

    The strip of rows in progress (logits, weights, mask, and their copies when rows are emitted and
    written) and one batch of tiles (read, stacked, logits).
    """
    cols = len(grid.cols)
    in_flight = 1 + math.ceil((batch_size - 1) / cols)
    steps = np.diff(grid.rows)
    rows = min(grid.height, grid.tile + (in_flight - 1) * int(steps.max(initial=0)))
    strip = (classes + 2) * rows * grid.width * 4
    written = (classes if probabilities else 1) * rows * grid.width * 4 * 3
    batch = batch_size * (2 * bands + classes + 2) * grid.tile**2 * 4
    return 2 * strip + written + batch


def _same_file(output: Path, source: Path) -> bool:
    try:
        return os.path.samefile(output, source)
    except OSError:
        return False


def predict_raster(
    source: str | Path,
    output: str | Path | None,
    runner: Runner,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    probabilities: bool = False,
    bands: Sequence[str] | None = None,
    scale: float | None = None,
    nodata: float | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    geotiff_only: bool = False,
    memory_budget_gb: float | None = None,
) -> PredictReport:
    """Predict a scene and write a georeferenced class map (and probabilities) as a COG.

    Args:
        source: Input raster.
        output: Output path; None writes ``<stem>_pred.tif`` next to the source.
        runner: Model runtime; its config is the adapter's input contract and tiling defaults.
        tile_size: Tile side; default from the adapter.
        overlap: Overlap of neighbouring tiles (at most half a tile); default from the adapter.
        batch_size: Tiles per forward pass; default from the adapter.
        probabilities: Add one float band of softmax probability per class.
        bands: File bands to use: numbers in the model's band order, or names of all the file's bands
            (see `geoadapters.raster.read.resolve_bands`); default from the band descriptions.
        scale: Factor from the file's values to the units the adapter normalises (replaces the
            adapter's ``input.scale``, e.g. 0.0001 for reflectance x 10000 when it expects reflectance).
        nodata: The file's nodata value, overriding its metadata.
        overwrite: Replace an existing output.
        progress: Called with (tiles done, tiles in all) after each batch.
        geotiff_only: Accept GeoTIFF (COG) inputs only; VRTs can make GDAL read any local file.
        memory_budget_gb: Most memory the scene's buffers may take; default `memory_budget`.

    Raises:
        RasterError: Unreadable, unreferenced or all-nodata scene, unwritable output, or an output
            that is the input itself.
        ResourceError: The scene, tile size and batch need more memory than the budget.
        BandError: The model's bands cannot be found in the file.
        OutputExistsError: The output exists and `overwrite` is False.
        ValueError: `scale` is not a finite positive number.
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
    if _same_file(output, Path(source)):
        raise RasterError(f"the output {output} is the input scene itself: give another output path")
    if scale is not None:
        finite("scale", scale, positive=True)
    factor = 1.0 if scale is None else scale / spec.scale
    # nodata pixels get the contract's fill value, or each band's mean in file units (normalised: 0)
    if spec.nodata_fill is None:
        fill = (np.asarray(spec.mean, np.float32) / (spec.scale * factor)).astype(np.float32)
    else:
        fill = np.full(len(spec.bands), spec.nodata_fill / factor, np.float32)
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
        Scene(source, spec.bands, bands=bands, nodata=nodata, geotiff_only=geotiff_only) as scene,
    ):
        try:
            grid = TileGrid(scene.height, scene.width, tile, overlap)
        except ValueError as err:
            raise RasterError(f"cannot tile {scene.path}: {err}") from err
        need = _memory_needed(grid, len(spec.bands), len(config.classes), batch_size, probabilities)
        allowed = memory_budget(memory_budget_gb)
        if need > allowed:
            raise ResourceError(
                f"{scene.path} ({scene.width:,} x {scene.height:,} px) with {tile} px tiles in batches of "
                f"{batch_size} needs about {need / 2**30:.1f} GiB, over the budget of "
                f"{allowed / 2**30:.1f} GiB "
                "(--memory-budget GB / GEOADAPTERS_MEMORY_GB; or smaller --tile-size / --batch-size)"
            )
        if scene.known_empty():
            raise RasterError(f"{scene.path} has no valid pixels (all nodata or NaN): nothing to predict")
        tags |= {"tile_size": str(tile), "overlap": str(overlap), "source_bands": json.dumps(scene.indexes)}
        any_data = False
        with PredictionWriter(
            output,
            scene.dataset,
            classes=config.classes,
            probabilities=probabilities,
            tags=tags,
            overwrite=overwrite,
        ) as writer:
            cols = len(grid.cols)
            in_flight = 1 + math.ceil((batch_size - 1) / cols)  # tile rows one batch can span
            strip = StripAccumulator(grid, len(config.classes), in_flight)
            rows = grid.rows
            done = emitted = 0  # tiles run; tile rows whose finished scene rows are written
            for batch in _batches(grid, batch_size):
                reads = [scene.read(y, x, tile, fill) for _, _, y, x in batch]
                with_data = [i for i, (_, valid) in enumerate(reads) if valid.any()]
                if with_data:
                    logits = runner(np.stack([reads[i][0] for i in with_data]) * np.float32(factor))
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
                    writer.write(*strip.emit(until))
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
    )
