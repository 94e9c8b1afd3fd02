"""Class polygons as GeoPackage, GeoJSON or GeoParquet, as a class map streams in or from a saved one.

`PolygonWriter` takes the class map's strips (and each pixel's confidence) as a prediction writes them;
`geoadapters.raster.polygons` makes the cleaned polygons, which are mapped into the scene's CRS and
written as they are finished, published whole or not at all. Each polygon has its class name and value,
its pixels, its ground area in m² and the mean confidence of its pixels. `vectorize` does the same from
a saved class map, so ``geoadapters vectorize MAP.tif`` gives what ``predict --vector`` gave.

GeoPackage is written through pyogrio (appending), GeoJSON is streamed into a GeoPackage and converted
once at the end (it cannot be appended to), and GeoParquet (``.parquet``, GeoParquet 1.1 with WKB
geometries and the CRS as PROJJSON) through pyarrow, one row group per batch.
"""

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from geoadapters._serde import validate_json
from geoadapters._staging import check_overwrite, staged_file
from geoadapters.config import ClassNames
from geoadapters.errors import MissingDependencyError, RasterError, one_line
from geoadapters.raster.area import row_pixel_areas
from geoadapters.raster.outputs import VectorOptions, probability_path, uncertainty_path
from geoadapters.raster.polygons import NODATA, Polygons, PolygonStream, chunk_height, kept_values

__all__ = [
    "FIELDS", "VECTOR_DRIVERS", "Grid", "PolygonWriter", "RasterGrid", "check_polygon_output", "exact_affine",
    "vectorize",
]  # fmt: skip

# Output suffix -> driver (OGR's, or GeoParquet through pyarrow).
VECTOR_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".parquet": "Parquet"}
# Each polygon's fields.
FIELDS = ("class", "value", "pixels", "area_m2", "confidence")
# Features gathered before one write (each write of pyogrio opens the file).
_BATCH = 20_000


class Grid(Protocol):
    """What the polygons need of the class map's raster (an open dataset has it): size, CRS, transform."""

    @property
    def height(self) -> int:
        """Rows."""

    @property
    def width(self) -> int:
        """Columns."""

    @property
    def crs(self) -> CRS:
        """Coordinate reference system."""

    @property
    def transform(self) -> Affine:
        """Pixel corners to CRS coordinates."""


@dataclass(frozen=True)
class RasterGrid:
    """A `Grid` without its dataset, to hand to another process."""

    height: int
    width: int
    crs: CRS
    transform: Affine


def check_polygon_output(
    path: Path, width: int, classes: list[str], options: VectorOptions, overwrite: bool
) -> str:
    """The driver of `path`, once polygons of a map `width` px wide can be written there as `options` say.

    Raises:
        RasterError: Another suffix, or `width` above `geoadapters.raster.polygons.MAX_WIDTH`.
        OptionError: A class to keep that is not one of `classes`.
        OutputError: `path` cannot be written.
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    driver = VECTOR_DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise RasterError(f"{path}: vector output must end in {', '.join(VECTOR_DRIVERS)}")
    chunk_height(width)
    kept_values(classes, options)
    check_overwrite(path, overwrite)
    return driver


def _import_pyogrio() -> Any:
    try:
        import pyogrio
    except ImportError as err:
        raise MissingDependencyError("vector output (pyogrio, shapely, scipy)", extra="vector") from err
    return pyogrio


class PolygonWriter:
    """Cleaned class polygons of a class map given strip by strip, published whole or not at all.

    Args:
        path: ``.gpkg``, ``.geojson`` or ``.parquet`` destination.
        like: The class map's size, CRS and transform (an open dataset of its grid, or a `RasterGrid`).
        classes: Class names in value order.
        options: How polygons are cleaned (`VectorOptions`).
        overwrite: Replace an existing destination.

    Raises:
        RasterError: Another suffix, the destination folder is not writable, pixel areas are unknown, or
            `like` is wider than `geoadapters.raster.polygons.MAX_WIDTH`.
        OutputError: `path` cannot be written.
        OutputExistsError: `path` exists and `overwrite` is False.
        OptionError: A class to keep that is not one of `classes`.
        MissingDependencyError: pyogrio, shapely or scipy (or pyarrow for GeoParquet) is not installed.
    """

    def __init__(
        self,
        path: str | Path,
        like: Grid,
        *,
        classes: list[str],
        options: VectorOptions | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        options = options or VectorOptions()
        driver = check_polygon_output(self.path, like.width, classes, options, overwrite)
        self._driver = driver
        self.classes = classes
        self._matrix, self._offset = exact_affine(like.transform, like.width, like.height)
        self._crs = like.crs
        self._stream = PolygonStream(
            like.height, like.width, classes, options,
            row_pixel_areas(like.crs, like.transform, like.height), self._add,
        )  # fmt: skip
        if driver == "Parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as err:
                raise MissingDependencyError("GeoParquet output (pyarrow)", extra="vector") from err
        else:
            self._pyogrio = _import_pyogrio()
        self._batch: list[Polygons] = []
        self._written = False
        self._parquet: Any = None
        self._staging: contextlib.AbstractContextManager[Path] = staged_file(self.path, overwrite=overwrite)
        try:
            self._target = self._staging.__enter__()
        except OSError as err:
            raise RasterError(f"cannot write into {self.path.parent}: {err}") from err
        # GeoJSON cannot be appended to: stream into a GeoPackage, convert once at the end
        self._gpkg = self._target.with_suffix(".partial.gpkg") if driver == "GeoJSON" else self._target

    def write(self, row: int, labels: npt.NDArray[np.uint8], confidence: npt.NDArray[Any] | None) -> None:
        """Add scene rows from `row` on: class values (rows, width; 255 nodata) and their confidence."""
        self._stream.write(row, labels, confidence)

    def _add(self, polygons: Polygons) -> None:
        self._batch.append(polygons)
        if sum(len(p.value) for p in self._batch) >= _BATCH:
            self._flush()

    def _to_crs(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        mapped: npt.NDArray[np.float64] = xy @ self._matrix + self._offset
        return mapped

    def _flush(self) -> None:
        import shapely

        if not self._batch and self._written:
            return
        parts = self._batch or [
            Polygons(*(np.array([], t) for t in (object, np.int32, np.int64, float, float)))
        ]
        self._batch = []
        values = np.concatenate([p.value for p in parts])
        mapped = shapely.transform(np.concatenate([p.geometry for p in parts]), self._to_crs)
        geometry = shapely.to_wkb(mapped)
        names = np.array([self.classes[v] for v in values], dtype=object)
        columns = [
            names,
            values,
            *(np.concatenate([getattr(p, n) for p in parts]) for n in ("pixels", "area", "confidence")),
        ]
        if self._driver == "Parquet":
            self._write_parquet(geometry, columns)
        else:
            self._pyogrio.raw.write(
                self._gpkg, geometry, columns, list(FIELDS), layer=self.path.stem, driver="GPKG",
                geometry_type="Polygon", crs=self._crs.to_wkt(), append=self._written, promote_to_multi=False,
            )  # fmt: skip
        self._written = True

    def _write_parquet(self, geometry: npt.NDArray[np.object_], columns: list[npt.NDArray[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            [pa.array(geometry, pa.binary()), *map(pa.array, columns)], names=["geometry", *FIELDS]
        )
        if self._parquet is None:
            geo = {
                "version": "1.1.0",
                "primary_column": "geometry",
                "columns": {
                    "geometry": {
                        "encoding": "WKB", "geometry_types": ["Polygon"],
                        "crs": self._crs.to_dict(projjson=True),
                    }
                },
            }  # fmt: skip
            schema = table.schema.with_metadata({"geo": json.dumps(geo)})
            self._parquet = pq.ParquetWriter(self._target, schema, compression="zstd")
        self._parquet.write_table(table.cast(self._parquet.schema))

    def __enter__(self) -> "PolygonWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._flush()
                if self._parquet is not None:
                    self._parquet.close()
                if self._gpkg != self._target:
                    meta, _, geometry, fields = self._pyogrio.raw.read(self._gpkg)
                    self._pyogrio.raw.write(
                        self._target, geometry, fields, meta["fields"], driver=self._driver,
                        geometry_type="Polygon", crs=self._crs.to_wkt(), layer=self.path.stem,
                    )  # fmt: skip
                    self._gpkg.unlink()
            elif self._parquet is not None:
                self._parquet.close()
        except BaseException as failure:
            self._staging.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._staging.__exit__(kind, error, tb)


def exact_affine(
    transform: Affine, width: int, height: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(matrix, offset) mapping pixel corners (x, y rows @ matrix + offset) into the CRS without rounding.

    Every coefficient is rounded to a multiple of 2**-q, with q the finest step at which every mapped
    corner of the scene and each term of its sum stay below 2**53 steps: then every product and sum of
    integer pixel corners is exact, so the mapped polygons keep the topology they had in pixel
    coordinates (a hole's vertex on its shell's edge stays on it, never crosses it by a rounding error,
    and nothing needs repairing). The coefficients move by at most 2**-q (about 1e-14 degrees or 1e-9 m
    at a scene's usual coordinates), so a corner by far less than a pixel (1e-6 of one at 4096 px).
    """
    t = transform
    terms = [t.c, t.f, t.a * width, t.b * height, t.d * width, t.e * height]
    largest = max(abs(v) for v in terms) or 1.0
    step = 2.0 ** (math.frexp(largest)[1] - 50)  # 3 terms of at most 2**50 steps: sums below 2**53
    matrix = np.round(np.array([[t.a, t.d], [t.b, t.e]]) / step) * step
    offset = np.round(np.array([t.c, t.f]) / step) * step
    return matrix, offset


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
        RasterError: The map cannot be read, has no class names, is wider than
            `geoadapters.raster.polygons.MAX_WIDTH`, or the output cannot be written.
        OutputExistsError: `output` exists and `overwrite` is False.
    """
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    class_map = Path(class_map)
    source = _confidence_source(class_map)
    try:
        with rasterio.open(class_map) as ds, contextlib.ExitStack() as stack:
            classes = _classes(class_map, ds.tags())
            scores = None if source is None else stack.enter_context(rasterio.open(source[0]))
            rows = chunk_height(ds.width)  # refuses a map too wide before reading a row of it
            with PolygonWriter(output, ds, classes=classes, options=options, overwrite=overwrite) as writer:
                for top in range(0, ds.height, rows):
                    window = Window(0, top, ds.width, min(rows, ds.height - top))
                    labels = ds.read(1, window=window)
                    if (labels[labels != NODATA] >= len(classes)).any():
                        raise RasterError(
                            f"{class_map} holds class values of {len(classes)} or more in rows from {top}, "
                            f"its tags name {len(classes)} classes: is it a geoadapters class map?"
                        )
                    writer.write(top, labels, _confidence(scores, source, window, labels))
    except RasterioIOError as err:
        raise RasterError(f"cannot read {class_map}: {err}") from err
    return Path(output)


def _classes(class_map: Path, tags: dict[str, str]) -> list[str]:
    """The class names a map's tags declare, checked by the schema (1 to MAX_CLASSES short names)."""
    if "classes" not in tags:
        raise RasterError(f"{class_map} has no class names in its tags: is it a geoadapters class map?")
    try:
        return list(validate_json(ClassNames, json.loads(tags["classes"])))
    except (ValueError, RecursionError) as err:
        raise RasterError(f"{class_map}: the class names in its tags are invalid: {one_line(err)}") from err


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
