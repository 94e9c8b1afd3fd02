"""Class polygons of a class map, made strip by strip and merged across strip borders, as GPKG or GeoJSON.

Each strip of finished rows is polygonised (`rasterio.features.shapes`, 4-connected) in pixel
coordinates, where the borders of neighbouring strips are the same integers exactly. Polygons that
touch the strip's last row are held back and united (shapely) with the polygons of the same class that
touch the next strip's first row; the others are final and are written at once (pyogrio, appending),
mapped into the scene's CRS. Memory is one strip plus the polygons that cross its lower border.
"""

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from geoadapters._staging import staged_file
from geoadapters.errors import MissingDependencyError, RasterError

__all__ = ["VECTOR_DRIVERS", "PolygonWriter"]

# Output suffix -> OGR driver.
VECTOR_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}


def _import_vector() -> tuple[Any, Any]:
    try:
        import pyogrio
        import shapely
    except ImportError as err:
        raise MissingDependencyError("vector output (pyogrio and shapely)", extra="vector") from err
    return pyogrio, shapely


class PolygonWriter:
    """Polygons of each class, with class name, value, pixels and area, published whole or not at all.

    Args:
        path: ``.gpkg`` or ``.geojson`` destination.
        like: Open input dataset whose CRS and transform the polygons take.
        classes: Class names in value order.
        overwrite: Replace an existing destination.

    Attributes:
        class_area: Area written so far of each class, in square CRS units.

    Raises:
        RasterError: Another suffix, or the destination folder is not writable.
        OutputExistsError: `path` exists and `overwrite` is False.
        MissingDependencyError: pyogrio or shapely is not installed.
    """

    def __init__(
        self, path: str | Path, like: rasterio.DatasetReader, *, classes: list[str], overwrite: bool = False
    ) -> None:
        self.path = Path(path)
        driver = VECTOR_DRIVERS.get(self.path.suffix.lower())
        if driver is None:
            raise RasterError(f"{self.path}: vector output must end in {', '.join(VECTOR_DRIVERS)}")
        self._pyogrio, self._shapely = _import_vector()
        self._driver = driver
        self.classes = classes
        t = like.transform
        self._matrix = np.array([[t.a, t.d], [t.b, t.e]])  # (x, y) rows @ matrix + offset
        self._offset = np.array([t.c, t.f])
        self._pixel_area = abs(t.a * t.e - t.b * t.d)
        self._crs = like.crs.to_wkt()
        self.class_area = np.zeros(len(classes), np.float64)
        self._pending: dict[int, list[Any]] = {}
        self._written = False
        self._staging: contextlib.AbstractContextManager[Path] = staged_file(self.path, overwrite=overwrite)
        try:
            self._target = self._staging.__enter__()
        except OSError as err:
            raise RasterError(f"cannot write into {self.path.parent}: {err}") from err
        # GeoJSON cannot be appended to: stream into a GeoPackage, convert once at the end
        self._stream = self._target if driver == "GPKG" else self._target.with_suffix(".partial.gpkg")

    def write(self, row: int, labels: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]) -> None:
        """Add scene rows from `row` on: class values (rows, width) and the mask of pixels with data."""
        from rasterio.features import shapes
        from rasterio.transform import Affine

        if labels.size == 0:
            return
        shapely = self._shapely
        end = row + labels.shape[0]
        found: dict[int, list[Any]] = {}
        for geometry, value in shapes(labels, mask=valid, transform=Affine.translation(0, row)):
            found.setdefault(int(value), []).append(shapely.geometry.shape(geometry))
        final: list[tuple[int, Any]] = []
        pending: dict[int, list[Any]] = {}
        for value in sorted(set(found) | set(self._pending)):
            polygons = found.get(value, [])
            bounds = shapely.bounds(np.asarray(polygons, dtype=object)) if polygons else np.zeros((0, 4))
            at_top = [p for p, b in zip(polygons, bounds, strict=True) if b[1] == row]
            inside = [p for p, b in zip(polygons, bounds, strict=True) if b[1] != row]
            held = self._pending.get(value, [])
            if held and at_top:
                at_top = list(shapely.get_parts(shapely.union_all(held + at_top)))
            else:
                at_top += held
            for polygon in at_top + inside:
                if shapely.bounds(polygon)[3] == end:
                    pending.setdefault(value, []).append(polygon)
                else:
                    final.append((value, polygon))
        self._pending = pending
        self._emit(final)

    def _to_crs(self, xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        mapped: npt.NDArray[np.float64] = xy @ self._matrix + self._offset
        return mapped

    def _emit(self, polygons: list[tuple[int, Any]]) -> None:
        if not polygons:
            return
        shapely = self._shapely
        values = np.array([v for v, _ in polygons], np.int32)
        pixel_geoms = np.array([p for _, p in polygons], dtype=object)
        pixels = np.rint(shapely.area(pixel_geoms)).astype(np.int64)
        geoms = shapely.transform(pixel_geoms, self._to_crs)
        area = pixels * self._pixel_area
        np.add.at(self.class_area, values, area)
        names = np.array([self.classes[v] for v in values], dtype=object)
        self._pyogrio.raw.write(
            self._stream,
            shapely.to_wkb(geoms),
            [names, values, pixels, area],
            ["class", "value", "pixels", "area"],
            layer=self.path.stem,
            driver="GPKG",
            geometry_type="Polygon",
            crs=self._crs,
            append=self._written,
            promote_to_multi=False,
        )
        self._written = True

    def __enter__(self) -> "PolygonWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._emit([(v, p) for v, held in sorted(self._pending.items()) for p in held])
                self._pending = {}
                if not self._written:  # no valid pixel: an empty layer, so the file still opens
                    empty = [np.array([], t) for t in (object, np.int32, np.int64, np.float64)]
                    self._pyogrio.raw.write(
                        self._stream, np.array([], object), empty, ["class", "value", "pixels", "area"],
                        layer=self.path.stem, driver="GPKG", geometry_type="Polygon", crs=self._crs,
                    )  # fmt: skip
                if self._stream != self._target:
                    meta, _, geometry, fields = self._pyogrio.raw.read(self._stream)
                    self._pyogrio.raw.write(
                        self._target, geometry, fields, meta["fields"], driver=self._driver,
                        geometry_type="Polygon", crs=self._crs, layer=self.path.stem,
                    )  # fmt: skip
                    self._stream.unlink()
        except BaseException as failure:
            self._staging.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._staging.__exit__(kind, error, tb)
