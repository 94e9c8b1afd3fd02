"""Tiled prediction of GeoTIFF scenes of any size, streamed in and out with bounded memory.

Tiles are read in windows, run through a runner (torch or ONNX, see `geoadapters.inference.runners`),
their logits blended with smooth windows (`geoadapters.inference.blending`) on the device that computed
them, and every finished strip of rows is written at once; memory is a few tiles plus a few strips of
logits, whatever the scene's height.
The next tiles are read and finished strips written in background threads while the model runs.
Tiles with no data are not computed. The output keeps the input's CRS and transform, and appears only
when complete. Scenes come from strangers: the memory a scene's size, the tile size and the batch need
is estimated before anything is allocated and refused above a budget (`memory_budget`), a sparse
GeoTIFF without any data is refused from its block index alone, and an output that is the input
itself (the same file, a hard link, a symlink) is refused.
"""

import contextlib
import dataclasses
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import rasterio
from typing_extensions import TypeIs

from geoadapters.config import AdapterConfig, memory_budget
from geoadapters.errors import AdapterError, OptionError, RasterError, ResourceError
from geoadapters.inference.background import WRITE_DEPTH, read_ahead, write_behind
from geoadapters.inference.blending import StripAccumulator
from geoadapters.inference.jobs import SceneJob, SceneSource, check_outputs
from geoadapters.inference.preflight import check_dates, scene_warnings
from geoadapters.inference.request import PredictOptions
from geoadapters.inference.resume import ADAPTER_TAG
from geoadapters.inference.runners import Runner
from geoadapters.inference.strips import StripFile, computed_tiles, read_strips
from geoadapters.inference.tiling import TileGrid, tile_fill
from geoadapters.inference.tta import AugmentedRunner
from geoadapters.raster.area import ClassAreas, write_area_table
from geoadapters.raster.metadata import (
    GSD_TOLERANCE,
    pixel_size_m,
)
from geoadapters.raster.outputs import VectorOptions, default_output
from geoadapters.raster.polygon_process import PolygonProcess
from geoadapters.raster.read import Scene, prepare_tile
from geoadapters.raster.write import PredictionWriter
from geoadapters.specs import SceneMetadata
from geoadapters.version import __version__

__all__ = [
    "PredictReport",
    "TileSource",
    "predict_block",
    "predict_job",
    "predict_jobs",
    "predict_raster",
    "predict_tiles",
]

# GDAL's block cache (default 5 % of RAM) would otherwise grow with the scene. 64 MB holds one row of
# blocks of a 13-band int16 scene 8192 px wide in 256 px blocks, so each is decompressed once; 256 MB let
# the peak grow from 710 to 1018 MB between 2048² and 8192² (bundled model), 64 MB from 708 to 804 MB.
_GDAL_CACHE_MB = 64
# Rows per strip when warping resampled probabilities back to the scene's grid.
_WARP_ROWS = 512

Progress = Callable[[int, int], None]
if TYPE_CHECKING:
    from geoadapters.inference.set_runner import SetRunner  # torch: not imported by an ONNX run

# What runs the tiles: one adapter's runner, or several adapters' (their logits side by side).
TileModel: TypeAlias = "Runner | SetRunner"


def _is_set(runner: TileModel) -> "TypeIs[SetRunner]":
    """Whether `runner` runs several adapters (a `SetRunner`: one config per adapter, `configs`)."""
    return hasattr(runner, "configs")


def _configs(runner: TileModel) -> tuple[AdapterConfig, ...]:
    """The config of each adapter the runner runs, in the order of its logits."""
    return runner.configs if _is_set(runner) else (runner.config,)


def _groups(runner: TileModel) -> list[int]:
    """The logit channels (classes) of each adapter the runner runs."""
    return [len(config.classes) for config in _configs(runner)]


@dataclass(frozen=True)
class PredictReport:
    """What one prediction did.

    Attributes:
        source: Input scene (a URL or GDAL path as given for remote scenes; the first of several frames).
        output: Written prediction.
        tiles: Tiles in the grid.
        computed: Tiles run through the model (tiles without data are skipped).
        seconds: Wall time.
        runner: Runtime, precision and device used.
        class_pixels: Pixels of each class in the written class map, by class name (nodata not counted).
        probabilities: Written probability COG, if asked for.
        vector: Written polygon file, if asked for.
        uncertainty: Written uncertainty COG, if asked for.
        class_area_m2: Ground area of each class in m², by class name (nodata not counted).
        areas: Written area table (CSV, JSON), if asked for.
        stac: Written STAC Item, if asked for.
    """

    source: Path | str
    output: Path
    tiles: int
    computed: int
    seconds: float
    runner: str
    class_pixels: Mapping[str, int]
    probabilities: Path | None = None
    vector: Path | None = None
    uncertainty: Path | None = None
    class_area_m2: Mapping[str, float] = dataclasses.field(default_factory=dict)
    areas: tuple[Path, Path] | None = None
    stac: Path | None = None


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


class TileSource(Protocol):
    """What tiles are read from: a `Scene`, or an array (`geoadapters.inference.array`)."""

    @property
    def height(self) -> int:
        """Rows."""
        ...

    @property
    def width(self) -> int:
        """Columns."""
        ...

    def read(
        self, y: int, x: int, size: int, fill: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Raw values (bands, size, size) at row `y`, column `x`, nodata filled, and the mask of data."""
        ...


Sink = Callable[[int, npt.NDArray[np.float32], npt.NDArray[np.bool_]], None]


def predict_tiles(
    source: TileSource,
    grid: TileGrid,
    runner: TileModel,
    batch_size: int,
    fill: npt.NDArray[np.float32],
    factor: float,
    scene: SceneMetadata | None,
    sink: Sink,
    progress: Progress | None = None,
    tile_rows: tuple[int, int] | None = None,
) -> int:
    """Run every tile with data and pass each finished strip of rows to `sink`, top to bottom.

    A block of tile rows [k, m) (`tile_rows`) gives exactly the strips of scene rows from ``rows[k]``
    (0 for k = 0) to ``rows[m]`` (the height for the last) that the whole scene gives: it also runs the
    earlier tile rows that overlap those rows, in the same batches of tiles as the whole scene, so the
    model sees the same inputs and every pixel adds the same tiles in the same order.

    The next batch's tiles are read in a background thread while the model runs, and `sink` is called
    in another (`geoadapters.inference.background`): until this returns, `source` and `sink` are each
    used by their thread alone. Their errors are raised here.

    Args:
        source: Where tiles are read from.
        grid: The tile grid over `source`.
        runner: The model runtime (a `SetRunner` for several adapters: logits of all, side by side).
        batch_size: Tiles per forward pass.
        fill: Per-band value of nodata pixels (normalises to 0).
        factor: Factor applied to raw values before the runner (a ``scale`` override).
        scene: Metadata passed to the runner.
        sink: Called with (first row, mean logits (classes, rows, width), mask of valid pixels).
        progress: Called with (tiles done, tiles in all) after each batch.
        tile_rows: Only the block of tile rows [k, m); its tiles are the ones counted.

    Returns:
        The number of tiles computed (0: no tile had data).
    """
    cols = len(grid.cols)
    in_flight = 1 + math.ceil((batch_size - 1) / cols)  # tile rows one batch can span
    rows = grid.rows
    first, stop = tile_rows or (0, len(rows))
    # the first tile row that reaches the block's first scene row (rows[0] is 0)
    needed = 0 if first == 0 else next(j for j in range(first + 1) if rows[j] + grid.tile > rows[first])
    strip = StripAccumulator(grid, sum(_groups(runner)), in_flight, rows[needed], runner.xp, runner.device)
    computed = done = 0  # tiles of the block computed, tiles of the block seen
    emitted = needed  # tile rows whose finished rows are out
    # the scene's own batches (the model sees the same inputs) that hold a tile of rows [needed, stop)
    batches = (b for b in _batches(grid, batch_size) if b[-1][0] >= needed and b[0][0] < stop)

    def read(
        batch: list[tuple[int, int, int, int]],
    ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]]:
        return [source.read(y, x, grid.tile, fill) for _, _, y, x in batch]

    # the next batch is read and finished strips are written in background threads (`background`)
    with read_ahead(batches, read) as reading, write_behind(sink) as write:
        for batch, reads in reading:
            with_data = [i for i, (_, valid) in enumerate(reads) if valid.any()]
            if with_data:
                raw = np.stack([reads[i][0] for i in with_data]) * np.float32(factor)
                logits = runner(raw, scene)
                for k, i in enumerate(with_data):
                    r, c, _, _ = batch[i]
                    if needed <= r < stop:
                        strip.add(r, c, logits[k], reads[i][1])
                        computed += first <= r
            done += sum(first <= r < stop for r, _, _, _ in batch)
            if progress is not None:
                progress(done, (stop - first) * cols)
            last_r, last_c, _, _ = batch[-1]
            complete = last_r if last_c == cols - 1 else last_r - 1  # last tile row fully added
            while emitted <= min(complete, stop - 1):
                until = rows[emitted + 1] if emitted + 1 < len(rows) else source.height
                finished = strip.emit(until)
                if emitted >= first:
                    write(*finished)
                emitted += 1
    return computed


def _predict_warped(
    scene: Scene,
    grid: TileGrid,
    runner: TileModel,
    batch_size: int,
    fill: npt.NDArray[np.float32],
    factor: float,
    described: SceneMetadata,
    sink: Sink,
    progress: Progress | None,
    staging: Path,
) -> int:
    """`predict_tiles` on a resampled scene; its probabilities, warped back to the file's grid, to `sink`."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    groups = _groups(runner)
    classes = sum(groups)
    profile = {"driver": "GTiff", "width": scene.width, "height": scene.height, "count": classes}
    profile |= {"dtype": "float32", "nodata": float("nan"), "crs": scene.dataset.crs, "tiled": True}
    profile |= {"transform": scene.dataset.transform, "blockxsize": 256, "blockysize": 256}
    with rasterio.open(staging, "w", **profile) as warped:

        def warped_sink(row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
            parts = np.split(logits, np.cumsum(groups)[:-1], axis=0)  # a softmax per adapter
            shifted = [np.exp(part - part.max(axis=0, keepdims=True)) for part in parts]
            softmax = np.concatenate([e / e.sum(axis=0, keepdims=True) for e in shifted], axis=0)
            proba = np.where(valid, softmax, np.nan).astype(np.float32)
            warped.write(proba, window=Window(0, row, proba.shape[2], proba.shape[1]))

        computed = predict_tiles(
            scene, grid, runner, batch_size, fill, factor, described, warped_sink, progress
        )
    like = scene.source
    with (
        rasterio.open(staging) as src,
        WarpedVRT(
            src, crs=like.crs, transform=like.transform, width=like.width, height=like.height,
            resampling=Resampling.bilinear, src_nodata=float("nan"), nodata=float("nan"),
        ) as back,
    ):  # fmt: skip
        for row in range(0, like.height, _WARP_ROWS):
            window = Window(0, row, like.width, min(_WARP_ROWS, like.height - row))
            proba = back.read(window=window)
            raw = like.read(scene.indexes, window=window, out_dtype="float32")
            masks = None if scene.nodata is not None else like.read_masks(scene.indexes, window=window)
            _, valid = prepare_tile(raw, scene.nodata, fill, 0, masks)
            valid &= np.isfinite(proba).all(axis=0)
            sink(row, np.log(np.where(valid, np.maximum(proba, 1e-12), 1.0)).astype(np.float32), valid)
    return computed


def _memory_needed(grid: TileGrid, bands: int, classes: int, batch_size: int, probabilities: bool) -> int:
    """Bytes of the buffers a prediction holds at once.

    The strip of rows in progress (logits, weights, mask, and their copies when rows are emitted and
    written), the finished strips queued for the writer thread, one batch of tiles (read, stacked,
    logits) and the two batches the reader thread holds (queued and being read).
    """
    cols = len(grid.cols)
    in_flight = 1 + math.ceil((batch_size - 1) / cols)
    steps = np.diff(grid.rows)
    rows = min(grid.height, grid.tile + (in_flight - 1) * int(steps.max(initial=0)))
    strip = (classes + 2) * rows * grid.width * 4
    written = (classes if probabilities else 1) * rows * grid.width * 4 * 3
    queued = (WRITE_DEPTH + 1) * (classes + 1) * rows * grid.width * 4
    batch = batch_size * (2 * bands + classes + 2 + 2 * (bands + 1)) * grid.tile**2 * 4
    return 2 * strip + written + queued + batch


@dataclass(frozen=True)
class _Plan:
    """An open scene and how it is predicted."""

    scene: Scene
    grid: TileGrid
    runner: TileModel  # with test-time augmentation if asked for
    batch_size: int
    fill: npt.NDArray[np.float32]
    factor: float
    described: SceneMetadata
    warp: bool


def _common(configs: Sequence[AdapterConfig], given: int | None, value: Callable[[AdapterConfig], int],
            option: str) -> int:  # fmt: skip
    """`given`, else the one value the adapters agree on.

    Raises:
        OptionError: The adapters differ and nothing is given.
    """
    if given is not None:
        return given
    values = list(dict.fromkeys(value(config) for config in configs))
    if len(values) > 1:
        raise OptionError(
            f"the adapters differ in {option} ({', '.join(map(str, values))}): give `{option}` for them all"
        )
    return values[0]


@contextlib.contextmanager
def _prepared(source: SceneSource, runner: TileModel, options: PredictOptions) -> Iterator[_Plan]:
    """The scene (or its frames) opened, checked and tiled as `predict_raster` describes its arguments.

    With several adapters (a `SetRunner`) the scene is tiled once for all: their tiling must agree
    unless the options give it, and so must their GSDs to resample.
    """
    configs = _configs(runner)
    for config in configs:
        if config.task != "segmentation":
            raise AdapterError(
                f"predict writes per-pixel maps; adapter {config.name}'s task is {config.task}"
            )
        check_dates(config, options)
    config = configs[0]  # bands, frames and patch grid: those of the one base
    spec = config.input
    tile = _common(configs, options.tile_size, lambda c: c.inference.tile_size, "tile_size")
    overlap = _common(configs, options.overlap, lambda c: c.inference.overlap, "overlap")
    fitted = None if options.batch_size else runner.fitting_batch(tile)  # on a GPU, from its free memory
    batch_size = options.batch_size or fitted or min(c.inference.batch_size for c in configs)
    if _is_set(runner):  # read once with nodata as NaN; filled per contract by the runner
        runner = runner.select(runner.names, scale=options.scale, tta=options.tta)
        fill, factor = runner.fill(), 1.0
    else:
        fill, factor = tile_fill(config, options.scale)
    gsds = list(dict.fromkeys(c.input.gsd for c in configs))
    if options.resample and len(gsds) > 1:
        raise OptionError(f"`resample` needs one GSD; the adapters take {', '.join(map(str, gsds))} m")
    gsd = gsds[0]
    with (
        rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB << 20),  # in bytes (rasterio: GDALSetCacheMax64)
        Scene(
            source, spec.bands, bands=options.bands, nodata=options.nodata,
            geotiff_only=options.geotiff_only, frames=config.frames,
        ) as scene,
    ):  # fmt: skip
        pixel = pixel_size_m(scene.source)
        warp = options.resample and gsd is not None and max(pixel / gsd, gsd / pixel) > GSD_TOLERANCE
        described = scene.metadata(options.metadata)
        if warp:
            assert gsd is not None
            scene.resample(gsd, pixel)
            described = dataclasses.replace(described, gsd=gsd)
        for warning in scene_warnings(scene, configs, options, gsd=not warp):
            warnings.warn(warning, stacklevel=4)
        try:
            grid = TileGrid(scene.height, scene.width, tile, overlap, align=config.input_multiple)
        except ValueError as err:
            raise RasterError(f"cannot tile {scene.path}: {err}") from err
        allowed = memory_budget(options.memory_budget_gb)
        classes = sum(_groups(runner))
        need = _memory_needed(grid, len(fill), classes, batch_size, options.probabilities)
        while fitted and batch_size > 1 and need > allowed:  # a fitted batch also fits the host's budget
            batch_size //= 2
            need = _memory_needed(grid, len(fill), classes, batch_size, options.probabilities)
        if need > allowed:
            raise ResourceError(
                f"{scene.path} ({scene.width:,} x {scene.height:,} px) with {tile} px tiles in batches of "
                f"{batch_size} needs about {need / 2**30:.1f} GiB, over the budget of "
                f"{allowed / 2**30:.1f} GiB (`memory_budget`, or GEOADAPTERS_MEMORY_GB; or a smaller "
                "`tile_size` or `batch_size`)"
            )
        if scene.known_empty():
            raise RasterError(f"{scene.path} has no valid pixels (all nodata or NaN): nothing to predict")
        augmented = runner
        if options.tta is not None and not _is_set(runner):  # a set runner averages itself
            augmented = AugmentedRunner(runner, options.tta)
        yield _Plan(scene, grid, augmented, batch_size, fill, factor, described, warp)


def predict_job(
    job: SceneJob,
    runner: Runner,
    options: PredictOptions,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    tags: Mapping[str, str] | None = None,
    blocks: Sequence[Path] | None = None,
) -> PredictReport:
    """Predict one planned scene (`geoadapters.inference.jobs`) with one adapter; see `predict_jobs`."""
    return predict_jobs(
        [job], runner, options, overwrite=overwrite, progress=progress, tags=[tags or {}], blocks=blocks
    )[0]


def _base_tags(config: AdapterConfig, description: str) -> dict[str, str]:
    return {
        "geoadapters_version": __version__,
        "model": config.base.name,
        "adapter": config.name or "",
        "method": config.method.name,
        "runner": description,
        "input_bands": json.dumps(list(config.input.bands)),
    }


def predict_jobs(
    jobs: Sequence[SceneJob],
    runner: TileModel,
    options: PredictOptions,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    tags: Sequence[Mapping[str, str]] | None = None,
    blocks: Sequence[Path] | None = None,
) -> list[PredictReport]:
    """Predict one scene with each adapter of `runner` and write each adapter's outputs; see `predict_raster`.

    The scene is read and tiled once; with a `SetRunner` each tile is prepared once per input contract
    and the logits of all the adapters are blended together, then split into each adapter's outputs.
    The outputs of every adapter appear only when all are complete.

    Args:
        jobs: The scene and the outputs of each adapter, in the order of `runner`'s adapters (the
            jobs read one scene: the first job's).
        runner: Model runtime of one adapter (`Runner`: its config is the adapter's input contract and
            tiling defaults), or of several (`SetRunner`).
        options: How to predict (`PredictOptions`).
        overwrite: Replace existing outputs.
        progress: Called with (tiles done, tiles in all) after each batch.
        tags: More tags of each class map (the run path records the source and run, for resume).
        blocks: The scene's strips computed by `predict_block` for consecutive blocks of tile rows from
            the first to the last, with the same options: they are written instead of running the model.

    Returns:
        The report of each job, in order.

    Raises:
        ValueError: Not one job per adapter of `runner`.
    """
    started = time.perf_counter()
    configs = _configs(runner)
    if len(jobs) != len(configs):
        raise ValueError(f"{len(jobs)} jobs for {len(configs)} adapters")
    tags_of = [
        _base_tags(c, runner.description) | dict(t)
        for c, t in zip(configs, tags or [{}] * len(jobs), strict=True)
    ]
    with _prepared(jobs[0].scene, runner, options) as plan:
        scene, grid = plan.scene, plan.grid
        shared = {"tile_size": str(grid.tile), "overlap": str(grid.overlap), "tta": options.tta or "none"}
        shared["source_bands"] = json.dumps(scene.source_bands)
        if configs[0].frames > 1:
            shared["frames"] = json.dumps([str(f) for f in scene.frames])
            shared["frame_dates"] = json.dumps([d.isoformat() for d in plan.described.dates])
        like = scene.source
        bounds = np.cumsum([0, *_groups(runner)])
        with contextlib.ExitStack() as outputs:
            sinks: list[_Outputs] = [
                _Outputs.open(outputs, job, config, options, like, tags_of[k] | shared, overwrite)
                for k, (job, config) in enumerate(zip(jobs, configs, strict=True))
            ]

            def strip_sink(row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
                for k, sink in enumerate(sinks):
                    sink.write(row, logits[bounds[k] : bounds[k + 1]], valid)

            if blocks is not None:  # computed by `predict_block`s
                computed = 0
                for block in blocks:
                    computed += computed_tiles(block)
                    for strip in read_strips(block):
                        strip_sink(*strip)
            elif plan.warp:  # predict on the adapter's grid, then warp the probabilities back to the scene's
                folder = outputs.enter_context(
                    tempfile.TemporaryDirectory(prefix=".geoadapters-warp-", dir=jobs[0].output.parent)
                )
                computed = _predict_warped(
                    scene, grid, plan.runner, plan.batch_size, plan.fill, plan.factor, plan.described,
                    strip_sink, progress, Path(folder) / "probabilities.tif",
                )  # fmt: skip
            else:
                computed = predict_tiles(
                    scene, grid, plan.runner, plan.batch_size, plan.fill, plan.factor, plan.described,
                    strip_sink, progress,
                )  # fmt: skip
            if not computed:
                raise RasterError(f"{scene.path} has no valid pixels (all nodata or NaN): nothing to predict")
        # after the maps are published: a run stopped here is resumed (the tables and Item are missing)
        seconds = time.perf_counter() - started
        reports = []
        for job, config, sink, job_tags in zip(jobs, configs, sinks, tags_of, strict=True):
            areas = sink.areas
            if job.areas_output is not None and areas is not None:
                about = {"scene": str(job.source), "class_map": job.output.name, "crs": like.crs.to_string()}
                write_area_table(*job.areas_output, areas.table(), about, overwrite)
            report = PredictReport(
                scene.path, job.output, len(grid), computed, seconds, plan.runner.description,
                dict(zip(config.classes, map(int, sink.writer.class_pixels), strict=True)),
                job.probability_output, job.vector, job.uncertainty_output,
                {} if areas is None else dict(zip(config.classes, map(float, areas.m2), strict=True)),
                job.areas_output, job.stac_output,
            )  # fmt: skip
            if job.stac_output is not None:
                from geoadapters.stac.item import write_prediction_item

                mlm = job_tags.get(ADAPTER_TAG, "")
                write_prediction_item(job, report, config, options, plan.described, like, mlm, overwrite)
            reports.append(report)
    return reports


@dataclass
class _Outputs:
    """The writers of one adapter's outputs of a scene: class map (and probabilities), polygons, areas."""

    writer: PredictionWriter
    polygons: PolygonProcess | None
    areas: ClassAreas | None

    @classmethod
    def open(
        cls, stack: contextlib.ExitStack, job: SceneJob, config: AdapterConfig, options: PredictOptions,
        like: "rasterio.io.DatasetReader", tags: Mapping[str, str], overwrite: bool,
    ) -> "_Outputs":  # fmt: skip
        """The writers of `job`, closed (and published, if no error) with `stack`."""
        counting = job.areas_output is not None or job.stac_output is not None
        areas = ClassAreas(like.crs, like.transform, like.height, config.classes) if counting else None
        polygons = None
        if job.vector is not None:
            polygons = stack.enter_context(
                PolygonProcess(
                    job.vector, like, classes=list(config.classes), options=options.vector_options,
                    overwrite=overwrite,
                )
            )  # fmt: skip
        writer = stack.enter_context(
            PredictionWriter(
                job.output, like, classes=config.classes, colors=config.colors,
                probabilities=options.probability_dtype if options.probabilities else None,
                uncertainty=options.uncertainty, tags=tags, overwrite=overwrite,
            )
        )  # fmt: skip
        return cls(writer, polygons, areas)

    def write(self, row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
        """One finished strip of this adapter's logits."""
        labels, confidence = self.writer.write(row, logits, valid, confidence=self.polygons is not None)
        if self.areas is not None:
            self.areas.add(row, labels)
        if self.polygons is not None:
            self.polygons.write(row, labels, confidence)


def predict_raster(
    source: str | Path | Sequence[str | Path],
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
    resample: bool = False,
    bands: Sequence[str] | None = None,
    scale: float | None = None,
    nodata: float | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    geotiff_only: bool = False,
    memory_budget_gb: float | None = None,
    uncertainty: bool = False,
    tta: str | None = None,
    vector_options: VectorOptions | None = None,
    areas: bool = False,
    stac: bool = False,
) -> PredictReport:
    """Predict a scene and write a georeferenced class map as a COG (and probabilities, polygons, ...).

    The options are those of `geoadapters.inference.request.PredictOptions`, which says more.

    Args:
        source: Input raster; for a model of several frames (`AdapterConfig.frames`), one file per frame
            in time order (a sequence, all on one grid) or one multi-date stack whose bands are the
            frames' bands, frame after frame (see `geoadapters.raster.read.Scene`).
        output: Output path; None writes ``<stem>_pred.tif`` next to the source (the first frame).
        runner: Model runtime (`geoadapters.inference.runners.make_runner`); its config is the adapter's
            input contract and tiling defaults.
        tile_size: Tile side; default from the adapter.
        overlap: Overlap of neighbouring tiles (at most half a tile); default from the adapter.
        batch_size: Tiles per forward pass; default: on a GPU what its free memory holds, else the adapter's.
        probabilities: Also write ``<stem>_proba.tif``: one band of softmax probability per class.
        probability_dtype: ``uint8`` (percent) or ``float32`` (0 to 1).
        vector: Also write the class map's polygons into this ``.gpkg``, ``.geojson`` or ``.parquet``
            file (class, value, pixels, area in m², mean confidence; scene CRS), cleaned as
            `vector_options` say (`geoadapters.raster.polygons`).
        metadata: Dates (one per frame), centre and GSD for models that take them (-TL, Clay); fields
            left unset are derived from the scene.
        resample: Read a scene whose pixel size is over 1.5x off the adapter's GSD warped to that GSD.
        bands: File bands to use: numbers in the model's band order, or names of all the file's bands.
        scale: Factor from the file's values to the units the adapter normalises.
        nodata: The file's nodata value, overriding its metadata.
        overwrite: Replace an existing output.
        progress: Called with (tiles done, tiles in all) after each batch.
        geotiff_only: Accept GeoTIFF (COG) inputs only; VRTs can make GDAL read any local file.
        memory_budget_gb: Most memory the scene's buffers may take; default `memory_budget`.
        uncertainty: Also write ``<stem>_uncertainty.tif`` (1 - the largest probability).
        tta: ``flips`` or ``d4``: average each tile's probabilities over its flips or dihedral transforms.
        vector_options: How polygons are cleaned; default `VectorOptions()` (1 px simplification).
        areas: Also write ``<stem>_areas.csv`` and ``<stem>_areas.json`` (ground area per class).
        stac: Also write ``<stem>.stac.json``, a STAC Item of the outputs.

    Raises:
        RasterError: Unreadable, unreferenced or all-nodata scene, unwritable output, an output that
            is the input itself, or frames not as many as the model takes or not on one grid.
        ResourceError: The scene, tile size and batch need more memory than the budget.
        BandError: The model's bands cannot be found in the file.
        OutputExistsError: An output exists and `overwrite` is False.
        ValueError: `scale` is not a finite positive number, or `metadata` has dates not one per frame.

    Warns:
        GsdWarning: The scene's pixels differ from the adapter's GSD by more than 1.5x.
        FrameDateWarning: Some frames have an acquisition date and others none (none is used).
    """
    options = PredictOptions(
        tile_size=tile_size, overlap=overlap, batch_size=batch_size, probabilities=probabilities,
        probability_dtype=probability_dtype, metadata=metadata, resample=resample,
        bands=None if bands is None else tuple(bands), scale=scale, nodata=nodata, geotiff_only=geotiff_only,
        memory_budget_gb=memory_budget_gb, uncertainty=uncertainty, tta=tta,
        vector_options=vector_options or VectorOptions(), areas=areas, stac=stac,
    )  # fmt: skip
    frames = (source,) if isinstance(source, str | Path) else tuple(source)
    path = Path(output) if output is not None else default_output(frames[0])
    vector_path = None if vector is None else Path(vector)
    job = SceneJob(frames, path, vector_path, probabilities, uncertainty, areas, stac)
    check_outputs([job])
    return predict_job(job, runner, options, overwrite=overwrite, progress=progress)


def predict_block(
    source: SceneSource,
    path: str | Path,
    runner: TileModel,
    part: tuple[int, int],
    options: PredictOptions,
    *,
    progress: Progress | None = None,
) -> int:
    """Compute the strips of one block of a scene's tile rows into the file `path`.

    `part` (index, count) is the index-th of `count` blocks of consecutive tile rows, as equal as they
    can be (a block may be empty). The files of a scene's blocks, in order, are then written by
    `predict_job` (`blocks`) with the same options (a resampled scene is not split); `progress` is
    called with (tiles done, tiles of the block).

    Returns:
        The block's tiles computed.

    Raises:
        ValueError: `options` resample the scene.
    """
    if options.resample:
        raise ValueError("a resampled scene cannot be split into blocks")
    index, count = part
    with _prepared(source, runner, options) as plan:
        rows = len(plan.grid.rows)
        tile_rows = (index * rows // count, (index + 1) * rows // count)
        strips = StripFile(path)
        computed = 0
        if tile_rows[0] < tile_rows[1]:
            computed = predict_tiles(
                plan.scene, plan.grid, plan.runner, plan.batch_size, plan.fill, plan.factor, plan.described,
                strips, progress, tile_rows,
            )  # fmt: skip
        strips.finish(computed)
    return computed
