"""The tile grid over a scene and the blending windows that make tiles add up without seams.

Tiles of a fixed size overlap their neighbours; along each axis their origins are spread evenly from
the first to the last pixel, so every overlap is at least the one asked for. Origins are multiples of
the model's patch grid (`align`): a ViT is translation-equivariant only by whole patches, and tiles
off that grid change about 6 % of a trained model's pixels (benchmarks/seams.py), so the last tile may
run up to `align` - 1 px past the scene edge (read with mirrored padding, which does not count). A
scene smaller than a tile gets one tile (padded the same way).

Each tile's logits are weighted by a window that is 1 inside, 0 on a margin along every edge shared
with a neighbour (the least reliable pixels of a tile), and a raised-cosine ramp in between. Where two
neighbours overlap their ramps are complementary (sin^2 + cos^2 = 1), so the weights of a regular grid
sum to one by themselves; the predictor still divides by the accumulated weight, which also covers
irregular overlaps, and a pixel's logits are a weighted average of the tiles that see it.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["StripAccumulator", "TileGrid", "axis_weights", "tile_origins"]


def tile_origins(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Origins of tiles along one axis: multiples of `align`, evenly spread, the first at 0.

    The last tile ends at `length` when `align` is 1, and less than `align` px past it otherwise.

    Raises:
        ValueError: `overlap` is not in [0, tile / 2] (wider overlaps would let three tiles share
            pixels), or the tile is smaller than two `align` steps.
    """
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap must be between 0 and half the tile size ({tile // 2}), got {overlap}")
    step = (tile - overlap) // align  # the longest step between origins, in units of `align`
    if align < 1 or step < 1:
        raise ValueError(f"a tile of {tile} px with overlap {overlap} cannot step on a grid of {align} px")
    if length <= tile:
        return [0]
    units = -(-(length - tile) // align)  # the last origin, in units of `align`
    gaps = math.ceil(units / step)
    return [align * round(i * units / gaps) for i in range(gaps + 1)]


def _ramp(length: int, margin: int) -> npt.NDArray[np.float64]:
    """Rising weights over an overlap of `length` px: 0 on the first `margin`, sin^2 up, then 1."""
    width = length - 2 * margin
    if width <= 0:  # overlap too small for a margin: a plain ramp over all of it
        margin, width = 0, length
    position = (np.arange(length) - margin + 0.5) / width
    return np.sin(np.pi / 2 * np.clip(position, 0.0, 1.0)) ** 2


def axis_weights(origins: list[int], index: int, tile: int, margin: int) -> npt.NDArray[np.float64]:
    """Blending weights along one axis for the tile at ``origins[index]``."""
    weights = np.ones(tile)
    if index > 0:
        overlap = origins[index - 1] + tile - origins[index]
        weights[:overlap] *= _ramp(overlap, margin)
    if index < len(origins) - 1:
        overlap = origins[index] + tile - origins[index + 1]
        weights[tile - overlap :] *= _ramp(overlap, margin)[::-1]
    return weights


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a (height, width) scene.

    Attributes:
        height: Scene rows.
        width: Scene columns.
        tile: Tile side in pixels.
        overlap: Minimum overlap between neighbouring tiles (at most tile / 2).
        margin: Pixels along a shared edge whose weight is 0; default a quarter of the overlap.
        align: Tile origins are multiples of it: the model's patch grid (`BaseSpec.input_multiple`).
    """

    height: int
    width: int
    tile: int
    overlap: int
    margin: int | None = None
    align: int = 1

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"a scene needs at least one pixel, got {self.height} x {self.width}")
        tile_origins(self.height, self.tile, self.overlap, self.align)  # validates the settings

    @property
    def rows(self) -> list[int]:
        """Row origins of the tiles."""
        return tile_origins(self.height, self.tile, self.overlap, self.align)

    @property
    def cols(self) -> list[int]:
        """Column origins of the tiles."""
        return tile_origins(self.width, self.tile, self.overlap, self.align)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def weights(self, row: int, col: int) -> npt.NDArray[np.float32]:
        """(tile, tile) float32 blending window of the tile at row index `row`, column index `col`."""
        margin = self.overlap // 4 if self.margin is None else self.margin
        wy = axis_weights(self.rows, row, self.tile, margin)
        wx = axis_weights(self.cols, col, self.tile, margin)
        return np.outer(wy, wx).astype(np.float32)

    def row_tiles(self) -> Iterator[tuple[int, list[tuple[int, int]]]]:
        """For each tile row: its index and the (y, x) origins of its tiles, left to right."""
        cols = self.cols
        for r, y in enumerate(self.rows):
            yield r, [(y, x) for x in cols]


class StripAccumulator:
    """Weighted logits of the tile rows in progress, emitting the scene rows no later tile can change.

    Tiles are added in raster order; with `rows_in_flight` tile rows in progress at once (a batch of
    tiles may span several), memory is (classes + 2) x (tile + (rows_in_flight - 1) x step) x width
    values: independent of the scene's height, and linear in its width. Rows are finished in order,
    so the output is written as a stream.

    Args:
        grid: The scene's tiles.
        classes: Number of logit channels.
        rows_in_flight: Tile rows that can have tiles added before the first of them is emitted.
        top: Scene row of the first row (a block of tile rows starts below the scene's top).
    """

    def __init__(self, grid: TileGrid, classes: int, rows_in_flight: int = 1, top: int = 0) -> None:
        self.grid = grid
        steps = np.diff(grid.rows)
        rows = min(grid.height, grid.tile + (rows_in_flight - 1) * int(steps.max(initial=0)))
        self.logits = np.zeros((classes, rows, grid.width), np.float32)
        self.weight = np.zeros((rows, grid.width), np.float32)
        self.valid = np.zeros((rows, grid.width), bool)
        self.top = top  # scene row of the strip's first row

    def add(
        self,
        y: int,
        x: int,
        logits: npt.NDArray[np.float32],
        weight: npt.NDArray[np.float32],
        valid: npt.NDArray[np.bool_],
    ) -> None:
        """Add one tile's (classes, tile, tile) logits with its window; `valid` marks data pixels.

        Parts of the tile outside the scene (a scene smaller than a tile) are ignored.
        """
        h = min(self.grid.tile, self.grid.height - y)
        w = min(self.grid.tile, self.grid.width - x)
        rows = slice(y - self.top, y - self.top + h)
        weight = weight[:h, :w] * valid[:h, :w]
        self.logits[:, rows, x : x + w] += logits[:, :h, :w] * weight
        self.weight[rows, x : x + w] += weight
        self.valid[rows, x : x + w] |= valid[:h, :w]

    def emit(self, until: int) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Finish scene rows [top, until): return (first row, mean logits, valid mask) and move on.

        Mean logits are the accumulated logits divided by the accumulated weight; pixels that no
        tile with data covered have no valid weight and are marked invalid.
        """
        n = until - self.top
        weight = self.weight[:n]
        covered = weight > 0
        mean = np.divide(self.logits[:, :n], weight, out=np.zeros_like(self.logits[:, :n]), where=covered)
        out = (self.top, mean, self.valid[:n] & covered)
        for array in (self.logits, self.weight, self.valid):
            array[..., : array.shape[-2] - n, :] = array[..., n:, :].copy()
            array[..., array.shape[-2] - n :, :] = 0
        self.top = until
        return out
