"""Blending tiles' logits into finished rows of a scene, on the device that computed them.

The windows are the tile grid's (`geoadapters.inference.tiling`); on a GPU the tiles are weighted and
summed there, and only finished rows are copied to the host.
"""

import numpy as np
import numpy.typing as npt
import torch

from geoadapters.inference.tiling import TileGrid

__all__ = ["StripAccumulator"]


class StripAccumulator:
    """Weighted logits of the tile rows in progress, emitting the scene rows no later tile can change.

    Tiles are added in raster order; with `rows_in_flight` tile rows in progress at once (a batch of
    tiles may span several), memory is (classes + 2) x (tile + (rows_in_flight - 1) x step) x width
    values: independent of the scene's height, and linear in its width. Rows are finished in order,
    so the output is written as a stream. The buffers live on `device`, where the logits are computed:
    on a GPU, tiles are blended there and only finished rows are copied to the host.

    Args:
        grid: The scene's tiles.
        classes: Number of logit channels.
        rows_in_flight: Tile rows that can have tiles added before the first of them is emitted.
        top: Scene row of the first row (a block of tile rows starts below the scene's top).
        device: Where the buffers are, and the logits added.
    """

    def __init__(
        self,
        grid: TileGrid,
        classes: int,
        rows_in_flight: int = 1,
        top: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.grid = grid
        steps = np.diff(grid.rows)
        rows = min(grid.height, grid.tile + (rows_in_flight - 1) * int(steps.max(initial=0)))
        self.logits = torch.zeros((classes, rows, grid.width), device=device)
        self.weight = torch.zeros((rows, grid.width), device=device)
        self.valid = torch.zeros((rows, grid.width), dtype=torch.bool, device=device)
        self.top = top  # scene row of the strip's first row
        self._origins = grid.rows, grid.cols  # computed once: `add` runs per tile
        wy, wx = grid.axis_windows()
        self._wy = [torch.from_numpy(w).to(device) for w in wy]
        self._wx = [torch.from_numpy(w).to(device) for w in wx]

    def add(self, row: int, col: int, logits: torch.Tensor, valid: npt.NDArray[np.bool_]) -> None:
        """Add the (classes, tile, tile) logits of the tile at row index `row`, column index `col`.

        `valid` marks its data pixels; parts of the tile outside the scene (a scene smaller than a tile,
        or the last tiles of an aligned grid) are ignored. Its blending window is `TileGrid.weights`.
        """
        y, x = self._origins[0][row], self._origins[1][col]
        h = min(self.grid.tile, self.grid.height - y)
        w = min(self.grid.tile, self.grid.width - x)
        mask = torch.from_numpy(valid[:h, :w]).to(self.logits.device)
        weight = torch.outer(self._wy[row][:h], self._wx[col][:w]).float() * mask
        rows = slice(y - self.top, y - self.top + h)
        self.logits[:, rows, x : x + w] += logits[:, :h, :w] * weight
        self.weight[rows, x : x + w] += weight
        self.valid[rows, x : x + w] |= mask

    def emit(self, until: int) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Finish scene rows [top, until): return (first row, mean logits, valid mask) and move on.

        Mean logits are the accumulated logits divided by the accumulated weight; pixels that no
        tile with data covered have no valid weight and are marked invalid. Both are host arrays.
        """
        n = until - self.top
        weight = self.weight[:n]
        covered = weight > 0
        mean = torch.where(covered, self.logits[:, :n] / weight, 0.0)
        out = (self.top, mean.cpu().numpy(), (self.valid[:n] & covered).cpu().numpy())
        for array in (self.logits, self.weight, self.valid):
            kept = array.shape[-2] - n
            array[..., :kept, :] = array[..., n:, :].clone()
            array[..., kept:, :] = 0
        self.top = until
        return out
