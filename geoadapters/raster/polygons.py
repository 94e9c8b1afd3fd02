"""Clean class polygons of a class map given in strips of rows, with bounded memory.

The rows are cut into chunks of `chunk_height(width)` rows (`CHUNK_ROWS`, fewer where the map is wider
than 8192 px, so a chunk holds at most `CHUNK_PIXELS`; aligned to the scene's first row, whatever the
strips they come in, so a run and a re-vectorisation of its class map give the same polygons). A map
wider than `MAX_WIDTH`, where even a chunk of `MIN_CHUNK_ROWS` rows would exceed that, is refused
before anything is allocated for it. In each chunk
the 4-connected regions of each value are labelled (scipy), polygonised (`rasterio.features.shapes`, in
pixel coordinates) and, with a tolerance, simplified as one coverage (`shapely.coverage_simplify`): a
boundary shared by two regions is simplified once, for both, so no gap or overlap appears, and the
chunk's outline (the scene's sides and the rows where chunks meet) is kept as it is. Nodata is a
region of its own (value 255), so its boundaries are simplified like the others but never written.

Regions of one value that meet across a chunk border are joined (union-find on the border's two rows),
and a region is finished once no part of it touches the last row read: its pieces are united once
(their shared border rows are the same straight lines on both sides), its holes below `fill_holes`
filled (what lay in them is left out), and it is written unless it is below `min_area` or of a class
not kept. Pixel counts, ground areas (per row, so exact in geographic CRSs) and confidence sums come
from the labelled pixels, not from the simplified outlines.

Memory is one chunk (about 60 bytes a pixel: the values, their confidence, labels and sums, so about
250 MB for `CHUNK_PIXELS`, plus the regions found in it) and the regions that touch its last row,
united into one every `_UNITE_CHUNKS` chunks (so an open region is its outline so far and the
pieces of a few chunks, not one piece per chunk it spans); with `fill_holes`, also the finished regions below
that size that a region still open could enclose.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from geoadapters.errors import MissingDependencyError, OptionError, RasterError
from geoadapters.raster.outputs import VectorOptions

__all__ = [
    "CHUNK_PIXELS", "CHUNK_ROWS", "MAX_WIDTH", "MIN_CHUNK_ROWS", "NODATA", "PolygonStream", "Polygons",
    "chunk_height", "kept_values",
]  # fmt: skip

CHUNK_ROWS = 512  # rows of a chunk of a map up to 8192 px wide
CHUNK_PIXELS = CHUNK_ROWS * 8192  # pixels of a chunk at most
MIN_CHUNK_ROWS = 32  # fewer rows, and the borders between chunks would be most of the work
MAX_WIDTH = CHUNK_PIXELS // MIN_CHUNK_ROWS  # 131 072 px
NODATA = 255
# chunks after which the pieces of a region still open are united: the pieces of open regions hold at
# most 2 x 8 rows of pixel corners across the width; uniting them at each chunk's end made a 4096 px
# map 45 % slower (a region as tall as the map was united twice)
_UNITE_CHUNKS = 8


def chunk_height(width: int) -> int:
    """Rows of a chunk of a map `width` px wide: `CHUNK_ROWS`, fewer so it holds at most `CHUNK_PIXELS`.

    Raises:
        RasterError: `width` is above `MAX_WIDTH`.
    """
    if width > MAX_WIDTH:
        raise RasterError(
            f"a class map {width} px wide is too wide to vectorize: at most {MAX_WIDTH} px "
            f"(chunks of at least {MIN_CHUNK_ROWS} rows of at most {CHUNK_PIXELS} pixels)"
        )
    return min(CHUNK_ROWS, CHUNK_PIXELS // max(width, 1))


def kept_values(classes: list[str], options: VectorOptions) -> set[int]:
    """The class values whose polygons are written: those of `options.classes`, else all.

    Raises:
        OptionError: A class to keep that is not one of `classes`.
    """
    if options.classes is None:
        return set(range(len(classes)))
    unknown = [c for c in options.classes if c not in classes]
    if unknown:
        raise OptionError(
            f"vector classes {', '.join(unknown)} are not among the classes {', '.join(classes)}"
        )
    return {classes.index(c) for c in options.classes}


def _import_vector() -> tuple[Any, Any]:
    try:
        import scipy.ndimage
        import shapely
    except ImportError as err:
        raise MissingDependencyError("vector output (pyogrio, shapely, scipy)", extra="vector") from err
    return scipy.ndimage, shapely


@dataclass(frozen=True)
class Polygons:
    """Finished polygons, in pixel coordinates of the scene (x right, y down, pixel corners on integers).

    Attributes:
        geometry: Shapely polygons.
        value: Class value of each.
        pixels: Pixels it covers (its own and those of the holes it filled).
        area: Ground area of those pixels in m².
        confidence: Mean confidence of its own pixels (NaN without confidence).
    """

    geometry: npt.NDArray[np.object_]
    value: npt.NDArray[np.int32]
    pixels: npt.NDArray[np.int64]
    area: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]


@dataclass(eq=False, slots=True)
class _Region:
    """A region of one value, possibly still open, with its pieces (one per chunk) and sums."""

    value: int
    pieces: list[Any]
    pixels: int
    area: float
    confidence: float
    own: int  # pixels of its own value, over which confidence is averaged
    box: list[int]  # top, left, bottom, right rows and columns, inclusive
    since: int = 0  # the first row of its pieces not yet united
    geometry: Any = None
    point: Any = None  # a point inside, for a hole's contents
    alive: bool = True
    parent: "_Region | None" = field(default=None, repr=False)

    def root(self) -> "_Region":
        region = self
        while region.parent is not None:
            region = region.parent
        return region

    def absorb(self, other: "_Region") -> None:
        self.pieces += other.pieces
        self.pixels += other.pixels
        self.area += other.area
        self.confidence += other.confidence
        self.own += other.own
        self.since = min(self.since, other.since)
        a, b = self.box, other.box
        self.box = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
        other.parent = self


def _node(
    coords: npt.NDArray[np.float64], ends: npt.NDArray[np.int64], rows: list[int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Rings (`coords`, ring ends) with a vertex at every pixel corner of their edges along `rows`.

    So the pieces of a region in two chunks share the same vertices on the border row between them.
    """
    if not rows:
        return coords, ends
    start, stop = coords[:-1], coords[1:]
    along = (start[:, 1] == stop[:, 1]) & np.isin(start[:, 1], rows)
    along[ends[1:-1] - 1] = False  # no segment from one ring's last vertex to the next ring's first
    extra = np.where(along, np.abs(stop[:, 0] - start[:, 0]).astype(np.int64) - 1, 0)
    if not extra.any():
        return coords, ends
    counts = np.append(extra, 0) + 1  # each vertex, then the corners inserted after it
    first = np.cumsum(counts) - counts  # where each vertex goes
    out = np.empty((int(counts.sum()), 2), np.float64)
    out[first] = coords
    segment = np.repeat(np.arange(len(extra)), extra)
    offset = np.arange(len(segment)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    out[first[segment] + offset, 0] = (
        start[segment, 0] + np.sign(stop[segment, 0] - start[segment, 0]) * offset
    )
    out[first[segment] + offset, 1] = start[segment, 1]
    return out, np.append(first[ends[:-1]], len(out))


def _union(pieces: list[Any], shapely: Any) -> Any:
    """The one polygon of a region's pieces, which meet on border rows (by whole pixel edges).

    GEOS unites their outlines only, and their holes are put back as they are: a piece's hole is
    enclosed by that piece alone, strictly between the rows it spans, so no other piece meets it. Uniting
    the holes too made the same polygon at 9x the cost (0.44 s against 0.05 s for the largest region of
    a 4096² map: 124 pieces, 16 272 holes).
    """
    rings, index = shapely.get_rings(np.asarray(pieces, object), return_index=True)
    first = np.r_[True, index[1:] != index[:-1]]  # each polygon's rings: its exterior, then its holes
    outline = shapely.coverage_union_all(shapely.polygons(rings[first]))
    shell, *holes = shapely.get_rings(outline)
    return shapely.polygons(shell, holes=np.concatenate([holes, rings[~first]]))


def _without_collinear(
    polygons: npt.NDArray[np.object_], shapely: Any, keep_row: int | None = None
) -> npt.NDArray[np.object_]:
    """The polygons without the vertices that lie on a straight line between their neighbours.

    Such as the pixel corners `_node` added on a border row, once the pieces are joined; those on
    `keep_row` (where the next chunk's pieces will meet them) are kept. The corners are integers
    (simplification only removes vertices), so the test is exact and the point sets unchanged.
    """
    _, coords, (ring_ends, polygon_ends) = shapely.to_ragged_array(polygons)
    sizes = np.diff(ring_ends) - 1  # each ring's vertices, without the closing one
    ring = np.repeat(np.arange(len(sizes)), sizes)
    index = np.arange(len(ring)) + ring  # into coords, skipping the closing vertices
    first, last = ring_ends[:-1][ring], ring_ends[1:][ring] - 2
    a = coords[index] - coords[np.where(index == first, last, index - 1)]
    b = coords[np.where(index == last, first, index + 1)] - coords[index]
    keep = a[:, 0] * b[:, 1] != a[:, 1] * b[:, 0]
    if keep_row is not None:
        keep |= coords[index, 1] == keep_row
    kept = np.bincount(ring[keep], minlength=len(sizes))
    ends = np.append(0, np.cumsum(kept + 1))
    closed = np.empty((int(ends[-1]), 2), np.float64)
    closed[np.arange(int(keep.sum())) + ring[keep]] = coords[index[keep]]  # a closing vertex per ring
    closed[ends[1:] - 1] = closed[ends[:-1]]
    out: npt.NDArray[np.object_] = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, closed, (ends, polygon_ends)
    )
    return out


class PolygonStream:
    """Class polygons of a map given strip by strip, cleaned as `VectorOptions` say, passed to `emit`.

    Args:
        height: The map's rows.
        width: Its columns.
        classes: Class names in value order.
        options: Simplification, minimum area, holes to fill, classes to keep.
        row_areas: Ground area in m² of one pixel of each row (`geoadapters.raster.area.row_pixel_areas`).
        emit: Called with each batch of finished polygons, in a fixed order.
        chunk_rows: Rows of a chunk (the polygons depend on it where simplified); default
            `chunk_height(width)`.

    Raises:
        RasterError: `width` is above `MAX_WIDTH`.
        OptionError: A class to keep that is not one of `classes`.
        MissingDependencyError: scipy or shapely is not installed.
    """

    def __init__(
        self,
        height: int,
        width: int,
        classes: list[str],
        options: VectorOptions,
        row_areas: npt.NDArray[np.float64],
        emit: Callable[[Polygons], None],
        chunk_rows: int | None = None,
    ) -> None:
        rows = chunk_height(width) if chunk_rows is None else chunk_rows
        self._ndimage, self._shapely = _import_vector()
        self._keep = kept_values(classes, options)
        self.height, self.width = height, width
        self.options = options
        self._row_areas = np.asarray(row_areas, np.float64)
        self._emit = emit
        self._by_pixels = options.area_unit == "px"
        # a region below the hole size spans fewer rows than it has pixels
        smallest = float(self._row_areas.min(initial=math.inf))
        size = options.fill_holes if self._by_pixels else options.fill_holes / max(smallest, 1e-300)
        self._hold_rows = math.ceil(size) + 1 if options.fill_holes else 0
        self._chunk_rows = rows
        self._buffer = np.zeros((min(rows, height), width), np.uint8)
        self._scores = np.zeros((min(rows, height), width), np.float64)
        self._row = 0  # rows received
        self._start = 0  # first row of the chunk being filled
        self._open: dict[int, _Region] = {}  # the regions that touch the last row read
        # the last row read: its values, the index of its region (in the list) of each pixel
        self._last: tuple[npt.NDArray[np.uint8], npt.NDArray[np.intp], list[_Region]] | None = None
        self._held: list[_Region] = []

    def write(self, row: int, labels: npt.NDArray[np.uint8], confidence: npt.NDArray[Any] | None) -> None:
        """Add the map's rows from `row` on: class values (rows, width; 255 nodata) and their confidence."""
        if row != self._row:
            raise ValueError(f"rows must come in order: expected row {self._row}, got {row}")
        offset = 0
        while offset < labels.shape[0]:
            at = self._row - self._start
            take = min(labels.shape[0] - offset, len(self._buffer) - at)
            self._buffer[at : at + take] = labels[offset : offset + take]
            if confidence is None:
                self._scores[at : at + take] = np.nan
            else:
                self._scores[at : at + take] = confidence[offset : offset + take]
            offset += take
            self._row += take
            if self._row - self._start == len(self._buffer) or self._row == self.height:
                self._chunk(self._row - self._start)

    def _value(self, region: _Region) -> float:
        return float(region.pixels) if self._by_pixels else region.area

    def _chunk(self, rows: int) -> None:
        ndimage, shapely = self._ndimage, self._shapely
        from rasterio.features import shapes
        from rasterio.transform import Affine

        top, labels, scores = self._start, self._buffer[:rows], self._scores[:rows]
        ids = np.zeros(labels.shape, np.int32)
        values: list[int] = []
        for value in np.unique(labels):
            regions, count = ndimage.label(labels == value)
            np.add(regions, len(values), out=ids, where=regions > 0)
            values += [int(value)] * count
        flat = ids.ravel() - 1
        count = len(values)
        pixels = np.bincount(flat, minlength=count)
        row_areas = self._row_areas[top : top + rows]
        if (row_areas == row_areas[0]).all():  # a projected CRS: all pixels of the chunk alike
            areas = pixels * row_areas[0]
        else:
            areas = np.bincount(flat, np.repeat(row_areas, self.width), count)
        score = scores.ravel()
        valid = np.isfinite(score)
        confidence = np.bincount(flat, np.where(valid, score, 0.0), count)
        scored = np.bincount(flat, valid, count).astype(np.int64)
        found = list(shapes(ids, transform=Affine.translation(0, top)))
        rings = [ring for shape, _ in found for ring in shape["coordinates"]]
        ring_ends = np.cumsum([0, *map(len, rings)])
        polygon_ends = np.cumsum([0, *(len(shape["coordinates"]) for shape, _ in found)])
        xy = np.fromiter(chain.from_iterable(chain.from_iterable(rings)), np.float64, 2 * int(ring_ends[-1]))
        borders = [y for y in (top, top + rows) if 0 < y < self.height]
        coords, ends = _node(xy.reshape(-1, 2), ring_ends, borders)
        geometries = np.empty(count, object)
        geometries[np.array([index for _, index in found], np.int64) - 1] = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, coords, (ends, polygon_ends)
        )
        # top, left, bottom, right pixel of each: the bounds of its pixel outline, less one at the end
        boxes = shapely.bounds(geometries)[:, [1, 0, 3, 2]].astype(np.int64) - [0, 0, 1, 1]
        if self.options.simplify > 0:
            geometries = shapely.coverage_simplify(geometries, self.options.simplify, simplify_boundary=False)
        pieces = [
            _Region(value, [geometry], n, area, score, own, box, since=box[0])
            for value, geometry, n, area, score, own, box in zip(
                values, geometries, pixels.tolist(), areas.tolist(), confidence.tolist(), scored.tolist(),
                boxes.tolist(), strict=True,
            )
        ]  # fmt: skip
        if self._last is not None:  # join the regions that meet across the border
            above_values, above_index, above = self._last
            same = np.flatnonzero(above_values == labels[0])
            pairs = np.unique(above_index[same].astype(np.int64) * (count + 1) + ids[0, same])
            for a, b in zip(pairs // (count + 1), pairs % (count + 1), strict=True):
                one, other = above[a].root(), pieces[b - 1].root()
                if one is not other:
                    one.absorb(other)
        end = top + rows
        finishing = {id(r.root()): r.root() for r in [*self._open.values(), *pieces]}
        self._open = {}
        self._last = None
        if end < self.height:
            last_ids, last_index = np.unique(ids[-1], return_inverse=True)
            last = [pieces[i - 1].root() for i in last_ids]
            self._open = {id(r): r for r in last}
            self._last = (labels[-1].copy(), last_index, last)
            due = end - _UNITE_CHUNKS * self._chunk_rows
            self._unite([r for r in self._open.values() if r.since <= due and len(r.pieces) > 1], end)
        finished = [r for key, r in finishing.items() if key not in self._open]
        self._start = end
        self._finish(finished, end)

    def _unite(self, regions: list[_Region], row: int) -> None:
        """Unite the pieces of each open region into one, noded only on `row`, its last row's bottom.

        So an open region holds the pieces of at most `_UNITE_CHUNKS` chunks (noded across up to the
        map's width on both sides), not one per chunk it spans.
        """
        if not regions:
            return
        shapely = self._shapely
        united = np.array([_union(r.pieces, shapely) for r in regions], object)
        for region, geometry in zip(regions, _without_collinear(united, shapely, row), strict=True):
            region.pieces, region.since = [geometry], row

    def _finish(self, finished: list[_Region], end: int) -> None:
        shapely = self._shapely
        step, noded = self._chunk_rows, []
        for region in finished:  # pieces meet on border rows, where every pixel corner is a vertex
            pieces = region.pieces
            region.geometry = pieces[0] if len(pieces) == 1 else _union(pieces, shapely)
            touches = region.box[0] > 0 and region.box[0] % step == 0
            touches |= region.box[2] < self.height - 1 and (region.box[2] + 1) % step == 0
            if len(pieces) > 1 or touches:
                noded.append(region)
            region.pieces = []
        if noded:
            geometries = _without_collinear(np.array([r.geometry for r in noded], object), shapely)
            for region, geometry in zip(noded, geometries, strict=True):
                region.geometry = geometry
        if not self.options.fill_holes:
            self._write(finished)
            return
        size = self.options.fill_holes
        small = [r for r in finished if self._value(r) < size]
        for region in small:
            region.point = shapely.point_on_surface(region.geometry)
        self._held += small
        self._fill(finished)
        held = {id(r) for r in small}
        self._write([r for r in finished if id(r) not in held])
        self._release(end)

    def _fill(self, finished: list[_Region]) -> None:
        """Fill the holes below the size of the finished regions of kept classes, smallest region first."""
        shapely = self._shapely
        held = [r for r in self._held if r.alive]
        owners = [r for r in finished if r.value in self._keep and r.value != NODATA]
        if not held or not owners:
            return
        tree = shapely.STRtree([r.point for r in held])
        for region in sorted(owners, key=lambda r: r.pixels):
            if not region.alive or not region.geometry.interiors:
                continue
            holes = shapely.polygons(list(region.geometry.interiors))
            hole_index, content_index = tree.query(holes, predicate="contains")
            kept, gained = [], []
            for h, hole in enumerate(holes):
                inside = [held[i] for i in content_index[hole_index == h] if held[i].alive]
                inside = [r for r in inside if r is not region]
                covered = sum(shapely.area(r.geometry) for r in inside)
                total = sum(self._value(r) for r in inside)
                if (
                    inside
                    and math.isclose(covered, shapely.area(hole), rel_tol=1e-9)
                    and total < self.options.fill_holes
                ):
                    gained += inside
                else:
                    kept.append(region.geometry.interiors[h])
            if gained:
                region.geometry = shapely.Polygon(region.geometry.exterior, kept)
                for other in gained:
                    other.alive = False
                    region.pixels += other.pixels
                    region.area += other.area

    def _release(self, end: int) -> None:
        """Write the held regions that no open region can enclose any more."""
        shapely = self._shapely
        held = [r for r in self._held if r.alive]
        if end < self.height:
            ready = np.array([r.box[2] + self._hold_rows < end for r in held], bool)
            if self._open and ready.any():
                opened = list(self._open.values())
                tree = shapely.STRtree(shapely.box(*np.array([r.box for r in opened]).T[[1, 0, 3, 2]]))
                boxes = shapely.box(*np.array([r.box for r in held]).T[[1, 0, 3, 2]])
                inside, _ = tree.query(boxes, predicate="within")
                ready[inside] = False
        else:
            ready = np.ones(len(held), bool)
        self._write([r for r, go in zip(held, ready, strict=True) if go])
        self._held = [r for r, go in zip(held, ready, strict=True) if not go]

    def _write(self, regions: list[_Region]) -> None:
        least = self.options.min_area
        out = [r for r in regions if r.alive and r.value in self._keep and self._value(r) >= least]
        if not out:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = np.array([r.confidence for r in out]) / np.array([r.own for r in out])
        self._emit(
            Polygons(
                np.array([r.geometry for r in out], object),
                np.array([r.value for r in out], np.int32),
                np.array([r.pixels for r in out], np.int64),
                np.array([r.area for r in out], np.float64),
                confidence,
            )
        )
