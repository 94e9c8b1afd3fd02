"""A polygon file written from a class map's strips, in a process of its own beside the prediction.

`PolygonFile` turns strips (class values and confidence) into cleaned polygons
(`geoadapters.raster.polygons`), maps them into the scene's CRS exactly (`exact_affine`) and writes them
into a staged target as they are finished: GeoPackage through pyogrio (appending), GeoJSON streamed into
a GeoPackage and converted once at the end (it cannot be appended to), GeoParquet (GeoParquet 1.1, WKB,
the CRS as PROJJSON) through pyarrow, one row group per batch.

`geoadapters.raster.vector.PolygonWriter` runs it as ``python -m geoadapters.raster.polygon_file``: the
polygons then take a core of their own and never the prediction's interpreter lock (GDAL's polygonising
holds it). The parent sends the file's settings, then each strip, then None, pickled over the child's
stdin; the child answers on its stdout once, with the class areas written or its error. Both ends are
this package: nothing from outside is unpickled. When the stdin ends early the child stops, and the
parent's staging discards what was written.
"""

import math
import pickle
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rasterio.transform import Affine

from geoadapters.raster.outputs import VectorOptions
from geoadapters.raster.polygons import Polygons, PolygonStream

__all__ = ["FIELDS", "FileSettings", "PolygonFile", "exact_affine", "main"]

# Each polygon's fields.
FIELDS = ("class", "value", "pixels", "area_m2", "confidence")
# Features gathered before one write (each write of pyogrio opens the file).
_BATCH = 20_000


@dataclass(frozen=True)
class FileSettings:
    """What a `PolygonFile` writes, and where: all of it plain values, so it can be sent to the child.

    Attributes:
        target: The staged file to write.
        driver: ``GPKG``, ``GeoJSON`` or ``Parquet``.
        layer: Its layer name.
        crs: The scene's CRS, as WKT.
        transform: Its affine transform (the six coefficients, as `Affine` gives them).
        width: Its columns.
        height: Its rows.
        classes: Class names in value order.
        options: How polygons are cleaned.
        row_areas: Ground area in m² of one pixel of each row.
    """

    target: Path
    driver: str
    layer: str
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    classes: list[str]
    options: VectorOptions
    row_areas: npt.NDArray[np.float64]


class PolygonFile:
    """The cleaned polygons of strips of a class map, written into `settings.target` as they are finished.

    Raises:
        MissingDependencyError: pyogrio, shapely or scipy (or pyarrow for GeoParquet) is not installed.
    """

    def __init__(self, settings: FileSettings) -> None:
        import pyogrio
        from rasterio.crs import CRS

        self.settings = settings
        self._pyogrio = pyogrio
        self._crs = CRS.from_wkt(settings.crs)
        transform = Affine(*settings.transform[:6])
        self._matrix, self._offset = exact_affine(transform, settings.width, settings.height)
        self.class_area = np.zeros(len(settings.classes), np.float64)
        self._stream = PolygonStream(
            settings.height, settings.width, settings.classes, settings.options, settings.row_areas, self._add
        )
        self._batch: list[Polygons] = []
        self._written = False
        self._parquet: Any = None
        target = settings.target
        # GeoJSON cannot be appended to: stream into a GeoPackage, convert once at the end
        self._gpkg = target.with_suffix(".partial.gpkg") if settings.driver == "GeoJSON" else target

    def write(self, row: int, labels: npt.NDArray[np.uint8], confidence: npt.NDArray[Any] | None) -> None:
        """Add scene rows from `row` on: class values (rows, width; 255 nodata) and their confidence."""
        self._stream.write(row, labels, confidence)

    def close(self) -> npt.NDArray[np.float64]:
        """Write what is left and finish the file; the ground area written of each class, in m²."""
        self._flush()
        if self._parquet is not None:
            self._parquet.close()
        if self._gpkg != self.settings.target:
            meta, _, geometry, fields = self._pyogrio.raw.read(self._gpkg)
            self._pyogrio.raw.write(
                self.settings.target, geometry, fields, meta["fields"], driver=self.settings.driver,
                geometry_type="Polygon", crs=self._crs.to_wkt(), layer=self.settings.layer,
            )  # fmt: skip
            self._gpkg.unlink()
        return self.class_area

    def _add(self, polygons: Polygons) -> None:
        np.add.at(self.class_area, polygons.value, polygons.area)
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
        geometry = shapely.to_wkb(_repaired(mapped))
        names = np.array([self.settings.classes[v] for v in values], dtype=object)
        columns = [
            names,
            values,
            *(np.concatenate([getattr(p, n) for p in parts]) for n in ("pixels", "area", "confidence")),
        ]
        if self.settings.driver == "Parquet":
            self._write_parquet(geometry, columns)
        else:
            self._pyogrio.raw.write(
                self._gpkg, geometry, columns, list(FIELDS), layer=self.settings.layer, driver="GPKG",
                geometry_type="Polygon", crs=self._crs.to_wkt(), append=self._written, promote_to_multi=False,
            )  # fmt: skip
        self._written = True

    def _write_parquet(self, geometry: npt.NDArray[np.object_], columns: list[npt.NDArray[Any]]) -> None:
        import json

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
            self._parquet = pq.ParquetWriter(self.settings.target, schema, compression="zstd")
        self._parquet.write_table(table.cast(self._parquet.schema))


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


def _repaired(polygons: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """The polygons, made valid where one is not (a safeguard: coverage simplification keeps them valid).

    An invalid one is repaired (``make_valid``, structure), keeping the largest part should one split off.
    """
    import shapely

    for i in np.flatnonzero(~shapely.is_valid(polygons)):
        parts = shapely.get_parts(shapely.make_valid(polygons[i], method="structure"))
        polygons[i] = parts[np.argmax(shapely.area(parts))]
    return polygons


def main() -> None:
    """The child: settings, strips and None from stdin; ("done", class areas) or ("failed", ...) to stdout."""
    source, answer = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else reaches the answer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt reaches the parent, which ends the stdin
    try:
        file = PolygonFile(pickle.load(source))
        while (strip := pickle.load(source)) is not None:
            file.write(*strip)
        reply: tuple[Any, ...] = ("done", file.close())
    except EOFError:  # the parent stopped early: it discards the file
        return
    except Exception as err:  # the parent raises it
        try:
            reply = ("failed", pickle.dumps(err), str(err))
        except Exception:  # not picklable: its message
            reply = ("failed", None, str(err))
    pickle.dump(reply, answer)
    answer.flush()


if __name__ == "__main__":
    main()
