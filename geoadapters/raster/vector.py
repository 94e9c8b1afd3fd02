"""Class polygons as GeoPackage, GeoJSON or GeoParquet, as a class map streams in or from a saved one.

`PolygonWriter` takes the class map's strips (and each pixel's confidence) as a prediction writes them
and hands them to a process of its own (`geoadapters.raster.polygon_file`), which makes the cleaned
polygons (`geoadapters.raster.polygons`), maps them into the scene's CRS and writes them as they are
finished; the file is published whole or not at all. Each polygon has its class name and value, its
pixels, its ground area in m² and the mean confidence of its pixels. `vectorize` does the same from a
saved class map, so ``geoadapters vectorize MAP.tif`` gives what ``predict --vector`` gave.
"""

import contextlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import rasterio

import geoadapters
from geoadapters._staging import staged_file
from geoadapters.errors import MissingDependencyError, RasterError
from geoadapters.raster.area import row_pixel_areas
from geoadapters.raster.outputs import VectorOptions, probability_path, uncertainty_path
from geoadapters.raster.polygon_file import FileSettings
from geoadapters.raster.polygons import CHUNK_ROWS, NODATA, kept_values

__all__ = ["VECTOR_DRIVERS", "PolygonWriter", "vectorize"]

# Output suffix -> driver (OGR's, or GeoParquet through pyarrow).
VECTOR_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".parquet": "Parquet"}


def _check_installed(driver: str) -> None:
    for module in ("pyogrio", "shapely", "scipy"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError("vector output (pyogrio, shapely, scipy)", extra="vector")
    if driver == "Parquet" and importlib.util.find_spec("pyarrow") is None:
        raise MissingDependencyError("GeoParquet output (pyarrow)", extra="vector")


class PolygonWriter:
    """Cleaned class polygons of a class map given strip by strip, published whole or not at all.

    The polygons are made in a child process (``python -m geoadapters.raster.polygon_file``), which
    reads the strips as they are written: beside a prediction they take a core of their own.

    Args:
        path: ``.gpkg``, ``.geojson`` or ``.parquet`` destination.
        like: Open dataset whose size, CRS and transform the class map has.
        classes: Class names in value order.
        options: How polygons are cleaned (`VectorOptions`).
        overwrite: Replace an existing destination.

    Attributes:
        class_area: Ground area written of each class, in m² (once the writer is closed without error).

    Raises:
        RasterError: Another suffix, the destination folder is not writable, pixel areas are unknown, or
            the polygons cannot be made or written (raised by `write` or on leaving).
        OutputExistsError: `path` exists and `overwrite` is False.
        OptionError: A class to keep that is not one of `classes`.
        MissingDependencyError: pyogrio, shapely or scipy (or pyarrow for GeoParquet) is not installed.
    """

    def __init__(
        self,
        path: str | Path,
        like: rasterio.DatasetReader,
        *,
        classes: list[str],
        options: VectorOptions | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        driver = VECTOR_DRIVERS.get(self.path.suffix.lower())
        if driver is None:
            raise RasterError(f"{self.path}: vector output must end in {', '.join(VECTOR_DRIVERS)}")
        options = options or VectorOptions()
        kept_values(classes, options)
        _check_installed(driver)
        self.classes = classes
        self.class_area = np.zeros(len(classes), np.float64)
        row_areas = row_pixel_areas(like.crs, like.transform, like.height)
        self._staging: contextlib.AbstractContextManager[Path] = staged_file(self.path, overwrite=overwrite)
        try:
            target = self._staging.__enter__()
        except OSError as err:
            raise RasterError(f"cannot write into {self.path.parent}: {err}") from err
        settings = FileSettings(
            target, driver, self.path.stem, like.crs.to_wkt(), tuple(like.transform), like.width, like.height,
            list(classes), options, np.asarray(row_areas, np.float64),
        )  # fmt: skip
        package = str(Path(geoadapters.__file__).resolve().parent.parent)  # the child imports this one
        paths = [package, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = os.environ | {"PYTHONPATH": os.pathsep.join(paths)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "geoadapters.raster.polygon_file"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        self._send(settings)

    def _pipe(self) -> IO[bytes]:
        pipe = self._process.stdin
        assert pipe is not None  # opened with PIPE
        return pipe

    def _send(self, message: object) -> None:
        try:
            pickle.dump(message, self._pipe(), protocol=pickle.HIGHEST_PROTOCOL)
        except (BrokenPipeError, OSError):  # the child stopped: its answer says why
            self._answer()
            raise RasterError(f"the polygons of {self.path.name} stopped without a reason") from None

    def _answer(self) -> npt.NDArray[np.float64]:
        """The child's class areas, once it is done; or its error, raised."""
        with contextlib.suppress(OSError):
            self._pipe().close()
        out = self._process.stdout
        assert out is not None  # opened with PIPE
        try:
            reply = pickle.load(out)
        except (EOFError, pickle.UnpicklingError):
            reply = ("failed", None, f"the process ended with status {self._process.wait()}")
        finally:
            out.close()
            self._process.wait()
        if reply[0] == "done":
            areas: npt.NDArray[np.float64] = reply[1]
            return areas
        error: BaseException = RasterError(f"polygons of {self.path.name}: {reply[2]}")
        if reply[1] is not None:
            with contextlib.suppress(Exception):
                error = pickle.loads(reply[1])
        raise error

    def write(self, row: int, labels: npt.NDArray[np.uint8], confidence: npt.NDArray[Any] | None) -> None:
        """Add scene rows from `row` on: class values (rows, width; 255 nodata) and their confidence."""
        self._send((row, labels, confidence))

    def __enter__(self) -> "PolygonWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._send(None)
                self.class_area = self._answer()
            else:  # the stdin ends early: the child stops, what it wrote is discarded
                with contextlib.suppress(OSError):
                    self._pipe().close()
                self._process.wait()
        except BaseException as failure:
            self._staging.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._staging.__exit__(kind, error, tb)


def _confidence_source(class_map: Path) -> tuple[Path, str] | None:
    """The file beside a class map that gives its pixels' confidence: ``uncertainty`` or ``probabilities``."""
    for path, kind in (
        (uncertainty_path(class_map), "uncertainty"),
        (probability_path(class_map), "probabilities"),
    ):
        if path.is_file():
            return path, kind
    return None


def vectorize(
    class_map: str | Path,
    output: str | Path,
    options: VectorOptions | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the cleaned polygons of a saved class map, as ``predict --vector`` does during a run.

    The classes come from the map's tags (a geoadapters class map), and each pixel's confidence from the
    uncertainty COG beside it (1 - uncertainty, as in the run), else the probability COG (its largest
    band, to its precision); with neither, confidence is NaN.

    Args:
        class_map: A class map written by ``predict`` (uint8, nodata 255, class names in its tags).
        output: ``.gpkg``, ``.geojson`` or ``.parquet`` destination.
        options: How polygons are cleaned.
        overwrite: Replace an existing output.

    Raises:
        RasterError: The map cannot be read, has no class names, or the output cannot be written.
        OutputExistsError: `output` exists and `overwrite` is False.
    """
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    class_map = Path(class_map)
    source = _confidence_source(class_map)
    try:
        with rasterio.open(class_map) as ds, contextlib.ExitStack() as stack:
            try:
                classes = list(json.loads(ds.tags()["classes"]))
            except (KeyError, ValueError) as err:
                raise RasterError(
                    f"{class_map} has no class names in its tags: is it a geoadapters class map?"
                ) from err
            scores = None if source is None else stack.enter_context(rasterio.open(source[0]))
            with PolygonWriter(output, ds, classes=classes, options=options, overwrite=overwrite) as writer:
                for top in range(0, ds.height, CHUNK_ROWS):
                    window = Window(0, top, ds.width, min(CHUNK_ROWS, ds.height - top))
                    labels = ds.read(1, window=window)
                    writer.write(top, labels, _confidence(scores, source, window, labels))
    except RasterioIOError as err:
        raise RasterError(f"cannot read {class_map}: {err}") from err
    return Path(output)


def _confidence(
    scores: Any, source: tuple[Path, str] | None, window: Any, labels: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64] | None:
    if scores is None or source is None:
        return None
    best: npt.NDArray[np.float64]
    if source[1] == "uncertainty":
        best = 1 - scores.read(1, window=window).astype(np.float64)
        return best
    bands = scores.read(window=window)
    if bands.dtype == np.uint8:
        best = np.where(labels == NODATA, np.nan, bands.max(axis=0) / 100.0)
    else:
        best = bands.max(axis=0).astype(np.float64)
    return best
