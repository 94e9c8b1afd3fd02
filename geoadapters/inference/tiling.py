"""The tile grid over a scene and the blending windows that make tiles add up without seams (torch-free).

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

What nodata pixels of a tile are filled with, per input contract, is `tile_fill`.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geoadapters.config import AdapterConfig
from geoadapters.inference.request import scale_factor

__all__ = ["TileGrid", "axis_weights", "tile_fill", "tile_origins"]


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

    @property
    def blend_margin(self) -> int:
        """Pixels along a shared edge whose weight is 0: `margin`, or a quarter of the overlap."""
        return self.overlap // 4 if self.margin is None else self.margin

    def axis_windows(self) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]]]:
        """Blending weights along the rows of each tile row, and along the columns of each tile column."""
        rows, cols = self.rows, self.cols
        return (
            [axis_weights(rows, r, self.tile, self.blend_margin) for r in range(len(rows))],
            [axis_weights(cols, c, self.tile, self.blend_margin) for c in range(len(cols))],
        )

    def weights(self, row: int, col: int) -> npt.NDArray[np.float32]:
        """(tile, tile) float32 blending window of the tile at row index `row`, column index `col`."""
        wy = axis_weights(self.rows, row, self.tile, self.blend_margin)
        wx = axis_weights(self.cols, col, self.tile, self.blend_margin)
        return np.outer(wy, wx).astype(np.float32)

    def row_tiles(self) -> Iterator[tuple[int, list[tuple[int, int]]]]:
        """For each tile row: its index and the (y, x) origins of its tiles, left to right."""
        cols = self.cols
        for r, y in enumerate(self.rows):
            yield r, [(y, x) for x in cols]


def tile_fill(config: AdapterConfig, scale: float | None = None) -> tuple[npt.NDArray[np.float32], float]:
    """(fill, factor) of raw tiles: each band's value for nodata pixels, and the factor applied to raw values.

    Nodata pixels take the contract's ``nodata_fill``, or each band's mean in file units (which
    normalises to 0); `scale` overrides the adapter's ``input.scale`` (the factor is their ratio). The
    fill holds the bands of every frame, frame after frame, as tiles do.
    """
    spec = config.input
    factor = scale_factor(spec, scale)
    if spec.nodata_fill is None:
        fill = (np.asarray(spec.mean, np.float32) / (spec.scale * factor)).astype(np.float32)
    else:
        fill = np.full(len(spec.bands), spec.nodata_fill / factor, np.float32)
    return np.tile(fill, config.frames), factor
