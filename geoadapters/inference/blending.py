"""Blending tiles' logits into finished rows of a scene, in the array library and on the device of the runner.

The windows are the tile grid's (`geoadapters.inference.tiling`). The math is written once against the
array API standard (`array_api_compat`): numpy on the host for onnxruntime, torch on the device that
computed the logits for a torch model, where on a GPU only finished rows are copied to the host.
"""

from typing import Any

import array_api_compat
import array_api_compat.numpy as host
import numpy as np
import numpy.typing as npt

from geoadapters.inference.tiling import TileGrid

__all__ = ["StripAccumulator", "to_host"]


def to_host(array: Any) -> npt.NDArray[Any]:
    """A numpy array of an array of any array-API library, on any device."""
    return np.asarray(array_api_compat.to_device(array, "cpu"))


class StripAccumulator:
    """Weighted logits of the tile rows in progress, emitting the scene rows no later tile can change.

    Tiles are added in raster order; with `rows_in_flight` tile rows in progress at once (a batch of
    tiles may span several), memory is (classes + 2) x (tile + (rows_in_flight - 1) x step) x width
    values: independent of the scene's height, and linear in its width. Rows are finished in order,
    so the output is written as a stream. The buffers are arrays of `xp` on `device`, where the
    logits are computed: on a GPU, tiles are blended there and only finished rows are copied to the host.

    Args:
        grid: The scene's tiles.
        classes: Number of logit channels.
        rows_in_flight: Tile rows that can have tiles added before the first of them is emitted.
        top: Scene row of the first row (a block of tile rows starts below the scene's top).
        xp: The array namespace of the logits (`array_api_compat.array_namespace`); default numpy.
        device: Where the buffers are, and the logits added (a device of `xp`).
    """

    def __init__(
        self,
        grid: TileGrid,
        classes: int,
        rows_in_flight: int = 1,
        top: int = 0,
        xp: Any = host,
        device: Any = "cpu",
    ) -> None:
        self.grid = grid
        self._xp = xp
        steps = np.diff(grid.rows)
        rows = min(grid.height, grid.tile + (rows_in_flight - 1) * int(steps.max(initial=0)))
        self.logits = xp.zeros((classes, rows, grid.width), dtype=xp.float32, device=device)
        self.weight = xp.zeros((rows, grid.width), dtype=xp.float32, device=device)
        self.valid = xp.zeros((rows, grid.width), dtype=xp.bool, device=device)
        self.top = top  # scene row of the strip's first row
        self._origins = grid.rows, grid.cols  # computed once: `add` runs per tile
        wy, wx = grid.axis_windows()
        self._wy = [xp.asarray(w, dtype=xp.float32, device=device) for w in wy]
        self._wx = [xp.asarray(w, dtype=xp.float32, device=device) for w in wx]

    def add(self, row: int, col: int, logits: Any, valid: npt.NDArray[np.bool_]) -> None:
        """Add the (classes, tile, tile) logits (of `xp`, on `device`) of the tile at `row`, `col`.

        `row` and `col` are the tile's row and column index. `valid` marks its data pixels; parts of
        the tile outside the scene (a scene smaller than a tile, or the last tiles of an aligned grid)
        are ignored. Its blending window is `TileGrid.weights`.
        """
        xp = self._xp
        y, x = self._origins[0][row], self._origins[1][col]
        h = min(self.grid.tile, self.grid.height - y)
        w = min(self.grid.tile, self.grid.width - x)
        mask = xp.asarray(np.ascontiguousarray(valid[:h, :w]), device=array_api_compat.device(self.weight))
        weight = self._wy[row][:h, None] * self._wx[col][None, :w] * xp.astype(mask, xp.float32)
        rows = slice(y - self.top, y - self.top + h)
        self.logits[:, rows, x : x + w] += logits[:, :h, :w] * weight
        self.weight[rows, x : x + w] += weight
        self.valid[rows, x : x + w] |= mask

    def emit(self, until: int) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Finish scene rows [top, until): return (first row, mean logits, valid mask) and move on.

        Mean logits are the accumulated logits divided by the accumulated weight; pixels that no
        tile with data covered have no valid weight and are marked invalid. Both are host arrays.
        """
        xp = self._xp
        n = until - self.top
        weight = self.weight[:n]
        covered = weight > 0
        mean = xp.where(covered, self.logits[:, :n] / xp.where(covered, weight, 1.0), 0.0)
        out = (self.top, to_host(mean), to_host(self.valid[:n] & covered))
        for array in (self.logits, self.weight, self.valid):
            kept = array.shape[-2] - n
            array[..., :kept, :] = xp.asarray(array[..., n:, :], copy=True)
            array[..., kept:, :] = 0
        self.top = until
        return out
