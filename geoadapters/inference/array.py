"""`predict_array`: the tiled prediction of `predict_raster` on arrays in memory, for notebooks.

A numpy array (bands, rows, cols) in the adapter's band order, or an xarray DataArray with dims
(band, y, x) as ``rioxarray.open_rasterio`` gives it: its band descriptions (``long_name``) pick the
bands, and its CRS and transform (``.rio``) give the scene's place for the models that take it. For a
model of several frames the array has a leading time axis, (time, band, y, x) as odc-stac and stackstac
give it, and a DataArray's ``time`` coordinate gives each frame's date. The tiles, blending and runner
are those of `predict_raster` (`predict_tiles`); nothing is written to disk.
"""

import datetime
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from geoadapters.errors import AdapterError, BandError, MissingDependencyError, RasterError
from geoadapters.inference.predict import Progress, predict_tiles
from geoadapters.inference.runners import Runner
from geoadapters.inference.tiling import TileGrid, tile_fill
from geoadapters.raster.metadata import frame_date_warning, grid_metadata
from geoadapters.raster.read import prepare_tile, resolve_bands
from geoadapters.specs import SceneMetadata

__all__ = ["predict_array"]

_CLASS_NODATA = 255


class _ArraySource:
    """Tiles of an in-memory (bands, rows, cols) array, read as `Scene` reads a file."""

    def __init__(self, data: npt.NDArray[Any], nodata: float | None) -> None:
        self.data = data
        self.nodata = nodata

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    def read(
        self, y: int, x: int, size: int, fill: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        raw = np.asarray(self.data[:, y : y + size, x : x + size], dtype=np.float32)
        return prepare_tile(raw, self.nodata, fill, size)


def _import_xarray() -> Any:
    try:
        import xarray
    except ImportError as err:
        raise MissingDependencyError("predict_array on DataArrays (xarray)", extra="xarray") from err
    return xarray


def predict_array(
    data: Any,
    runner: Runner,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    probabilities: bool = False,
    bands: Sequence[str] | None = None,
    scale: float | None = None,
    nodata: float | None = None,
    metadata: SceneMetadata | None = None,
    progress: Progress | None = None,
) -> Any:
    """Class map (and probabilities) of an array, tiled and blended as `predict_raster` does.

    Args:
        data: numpy array (bands, rows, cols) in the adapter's band order, or an xarray DataArray
            (band, y, x); a DataArray's ``long_name`` band descriptions pick the bands. For a model of
            several frames: (time, bands, rows, cols), a DataArray (time, band, y, x) whose ``time``
            coordinate gives the dates.
        runner: Model runtime.
        tile_size: Tile side; default from the adapter.
        overlap: Overlap of neighbouring tiles; default from the adapter.
        batch_size: Tiles per forward pass; default as `predict_raster`'s.
        probabilities: Also return the softmax probabilities (classes, rows, cols), float32.
        bands: As in `predict_raster`: numbers or names of the array's bands.
        scale: Factor from the array's values to the adapter's units (replaces ``input.scale``).
        nodata: Nodata value; default the DataArray's (``.rio.nodata``) or none.
        metadata: Date, centre and GSD for the models that take them; a DataArray's centre and GSD
            come from its CRS and transform unless given.
        progress: Called with (tiles done, tiles in all) after each batch.

    Returns:
        The class map (rows, cols) uint8 with 255 where there is no data, or (class map,
        probabilities) with NaN there; DataArrays (with the input's coordinates and CRS) for a
        DataArray, numpy arrays for a numpy array.

    Raises:
        BandError: The bands cannot be matched.
        RasterError: The array is not (bands, rows, cols) (with the frames first for a model of
            several frames), or has no valid pixel.
        AdapterError: The model is no segmentation model.
    """
    config = runner.config
    if config.task != "segmentation":
        raise AdapterError(f"predict writes per-pixel maps; this adapter's task is {config.task}")
    spec = config.input
    frames = config.frames
    is_xarray = type(data).__module__.startswith("xarray")
    values = data.values if is_xarray else np.asarray(data)
    shape = "(bands, rows, cols)" if frames == 1 else f"({frames} frames, bands, rows, cols)"
    if values.ndim != (3 if frames == 1 else 4) or (frames > 1 and values.shape[0] != frames):
        raise RasterError(f"this model takes an array {shape}, got shape {values.shape}")
    stack = values if frames > 1 else values[None]  # (frames, bands, rows, cols)
    count = stack.shape[1]
    scene = metadata
    if is_xarray:
        descriptions = data.attrs.get("long_name")
        if isinstance(descriptions, str):
            descriptions = (descriptions,)
        descriptions = list(descriptions) if descriptions is not None else [None] * count
        if len(descriptions) != count:
            raise BandError(f"{len(descriptions)} band descriptions for {count} bands")
        stack = stack[:, [i - 1 for i in resolve_bands(descriptions, spec.bands, bands)]]
        rio = getattr(data, "rio", None)
        if nodata is None and rio is not None:
            nodata = rio.nodata
        if rio is not None and rio.crs is not None:
            dates = _dates(data, frames)
            if (warning := frame_date_warning(dates, metadata)) is not None:
                warnings.warn(warning, stacklevel=2)
            height, width = stack.shape[2:]
            scene = grid_metadata(rio.crs, rio.transform(), height, width, dates, metadata)
    elif bands is not None:
        stack = stack[:, [i - 1 for i in resolve_bands([None] * count, spec.bands, bands)]]
    elif count != len(spec.bands):
        raise BandError(f"the array has {count} bands; the model needs {len(spec.bands)}")
    values = stack.reshape(-1, *stack.shape[2:])  # the bands of every frame, frame after frame
    tile = tile_size or config.inference.tile_size
    overlap = config.inference.overlap if overlap is None else overlap
    try:
        grid = TileGrid(values.shape[1], values.shape[2], tile, overlap, align=config.input_multiple)
    except ValueError as err:
        raise RasterError(f"cannot tile the array: {err}") from err
    fill, factor = tile_fill(config, scale)
    classes = np.full(values.shape[1:], _CLASS_NODATA, np.uint8)
    proba = np.full((len(config.classes), *values.shape[1:]), np.nan, np.float32) if probabilities else None

    def sink(row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
        rows = slice(row, row + logits.shape[1])
        classes[rows] = np.where(valid, logits.argmax(axis=0), _CLASS_NODATA)
        if proba is not None:
            shifted = np.exp((logits - logits.max(axis=0, keepdims=True)).astype(np.float64))
            proba[:, rows] = np.where(valid, shifted / shifted.sum(axis=0, keepdims=True), np.nan)

    source = _ArraySource(values, nodata)
    batch = batch_size or runner.fitting_batch(tile) or config.inference.batch_size
    if not predict_tiles(source, grid, runner, batch, fill, factor, scene, sink, progress):
        raise RasterError("the array has no valid pixels (all nodata or NaN): nothing to predict")
    if not is_xarray:
        return (classes, proba) if probabilities else classes
    return _as_dataarrays(data, classes, proba, config.classes)


def _dates(data: Any, frames: int) -> list[datetime.date | None]:
    """Each frame's date from a DataArray's ``time`` coordinate (one value per frame); None without."""
    times = data.coords.get("time")
    if times is None or times.size != frames or not np.issubdtype(times.dtype, np.datetime64):
        return [None] * frames
    days = np.atleast_1d(times.values).astype("datetime64[D]")
    return [datetime.date.fromisoformat(str(day)) if not np.isnat(day) else None for day in days]


def _as_dataarrays(
    like: Any, classes: npt.NDArray[np.uint8], proba: npt.NDArray[np.float32] | None, names: Sequence[str]
) -> Any:
    xarray = _import_xarray()
    dims = like.dims[-2:]  # y, x: the band (and time) dims are gone
    coords = {k: v for k, v in like.coords.items() if set(v.dims) <= set(dims)}
    out = xarray.DataArray(classes, dims=dims, coords=coords, name="class")
    out.attrs = {"classes": list(names), "_FillValue": _CLASS_NODATA}
    if proba is None:
        return out
    probability = xarray.DataArray(
        proba, dims=("class", *dims), coords={"class": list(names), **coords}, name="probability"
    )
    return out, probability
