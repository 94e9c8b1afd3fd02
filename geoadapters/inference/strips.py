"""Finished strips of a scene's mean logits kept in a file: a block of a scene computed on one worker.

A split scene's blocks (`geoadapters.inference.predict.predict_block`) each write the strips that
`geoadapters.inference.predict.predict_tiles` passes on, byte for byte; the scene's outputs are then
written from the files' strips in order, by the code that writes an unsplit scene. The file holds the
number of tiles computed, then per strip its first row, rows, classes and width (int64) and its
float32 logits and boolean mask, raw.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["StripFile", "computed_tiles", "read_strips"]

_INT = np.dtype("<i8")


class StripFile:
    """Strips appended to `path` as they come (a `predict_tiles` sink); `finish` records tiles computed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.write_bytes(np.zeros(1, _INT).tobytes())

    def __call__(self, row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
        """Append the strip of scene rows from `row`: mean logits (classes, rows, width) and valid mask."""
        classes, rows, width = logits.shape
        with self.path.open("ab") as file:
            file.write(np.array([row, rows, classes, width], _INT).tobytes())
            file.write(np.ascontiguousarray(logits, np.float32).tobytes())
            file.write(np.ascontiguousarray(valid, np.bool_).tobytes())

    def finish(self, computed: int) -> None:
        """Record the number of tiles computed."""
        with self.path.open("r+b") as file:
            file.write(np.array([computed], _INT).tobytes())


def computed_tiles(path: str | Path) -> int:
    """The tiles a `StripFile` recorded as computed."""
    with Path(path).open("rb") as file:
        return int(np.frombuffer(file.read(_INT.itemsize), _INT)[0])


def read_strips(path: str | Path) -> Iterator[tuple[int, npt.NDArray[np.float32], npt.NDArray[np.bool_]]]:
    """The strips (first row, mean logits, valid mask) of a `StripFile`, in order."""
    with Path(path).open("rb") as file:
        file.seek(_INT.itemsize)
        while header := file.read(4 * _INT.itemsize):
            row, rows, classes, width = (int(v) for v in np.frombuffer(header, _INT))
            logits = np.frombuffer(file.read(4 * classes * rows * width), np.float32)
            valid = np.frombuffer(file.read(rows * width), np.bool_)
            yield row, logits.reshape(classes, rows, width), valid.reshape(rows, width)
