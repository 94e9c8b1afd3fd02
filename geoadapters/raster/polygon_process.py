"""`PolygonWriter` in a child Python process, so that making polygons never holds the model's GIL.

A prediction hands each strip of its class map (and each pixel's confidence) to `PolygonProcess`,
which sends it, pickled, over the stdin of a child ``python`` running this module (pickles pass only
between these two processes, never from a file or the network); the child runs
`geoadapters.raster.vector.PolygonWriter` (which publishes the file whole or not at all) and answers
once on its stdout: published, or the error, which is raised here as the same exception. The
polygons' work is largely Python (labelling, GDAL's shapes turned into arrays, unions); in a thread of
the predicting process it held the GIL that the model's own Python needs between operations, and
``--vector`` took 1.75x the raster run at 4096² with the bundled model, where a process leaves it
1.25x (docs/performance.md).

The child reads ahead into a buffer of at most `READ_AHEAD_PIXELS` pixels, so a strip is taken while
it makes the polygons of the chunk before, and the predicting process waits only when the polygons
are that far behind. The child imports no torch, starts with the parent's ``sys.path`` (so it runs
this very package) and ignores Ctrl-C: the parent ends it by closing its input, which discards the
output, as does the parent's end by any other means.
"""

import collections
import contextlib
import pickle
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from geoadapters.errors import GeoAdaptersError, RasterError, one_line
from geoadapters.raster.outputs import VectorOptions
from geoadapters.raster.polygons import CHUNK_PIXELS
from geoadapters.raster.vector import Grid, RasterGrid, check_polygon_output

__all__ = ["READ_AHEAD_PIXELS", "PolygonProcess"]

# Pixels of strips the child holds beyond the chunk it works on: a chunk's worth (about 40 MB).
READ_AHEAD_PIXELS = CHUNK_PIXELS
# What the child runs: deaf to Ctrl-C (the parent ends it by closing its input), the parent's import
# path, then `_serve`.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from geoadapters.raster.polygon_process import _serve; _serve()"
)


class PolygonProcess:
    """Cleaned class polygons of a class map given strip by strip, made and written in a child process.

    The same arguments, checks and result as `geoadapters.raster.vector.PolygonWriter`; errors found
    in the child are raised from the next `write` or on leaving the context.

    Raises:
        RasterError: As `PolygonWriter` does, or the child process could not start or ended unasked.
        OutputExistsError: `path` exists and `overwrite` is False.
        OptionError: A class to keep that is not one of `classes`.
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
        check_polygon_output(self.path, like.width, classes, options, overwrite)
        grid = RasterGrid(like.height, like.width, like.crs, like.transform)
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError as err:
            raise RasterError(f"{self.path}: cannot start a process to make the polygons: {err}") from err
        self._send(list(sys.path))
        self._send((self.path, grid, classes, options, overwrite))

    def _send(self, message: object) -> None:
        assert self._child.stdin is not None
        try:
            pickle.dump(message, self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._child.stdin.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._settle()  # the child stopped: it says why

    def _settle(self) -> None:
        """End the child's input, wait for its one answer, and raise what went wrong there, if anything."""
        assert self._child.stdin is not None and self._child.stdout is not None
        with contextlib.suppress(OSError):
            self._child.stdin.close()
        answer: tuple[Any, ...] | None
        try:
            answer = pickle.load(self._child.stdout)  # our own child's, not downloaded
        except (EOFError, pickle.UnpicklingError):
            answer = None
        self._child.stdout.close()
        self._child.wait()
        if answer is not None and answer[0] == "error":
            raise answer[1]
        if answer is None or answer[0] != "published":
            raise RasterError(
                f"{self.path}: the process making the polygons ended unasked "
                f"(exit code {self._child.returncode})"
            )

    def write(self, row: int, labels: npt.NDArray[np.uint8], confidence: npt.NDArray[Any] | None) -> None:
        """Add scene rows from `row` on: class values (rows, width; 255 nodata) and their confidence."""
        self._send(("write", row, labels, confidence))

    def __enter__(self) -> "PolygonProcess":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._child.returncode is not None:
            return  # ended already, its answer raised
        if kind is not None:  # the child sees the end of its input and discards the output
            with contextlib.suppress(Exception):  # what it says is not the error that ends the run
                self._settle()
            return
        self._send(("close",))
        self._settle()


class _Inbox:
    """Messages read ahead of the one being worked on, at most `limit` pixels of strips (always one)."""

    def __init__(self, limit: int) -> None:
        self._items: collections.deque[tuple[tuple[Any, ...], int]] = collections.deque()
        self._pixels = 0
        self._limit = limit
        self._changed = threading.Condition()

    def put(self, message: tuple[Any, ...]) -> None:
        pixels = message[2].size if message[0] == "write" else 0
        with self._changed:
            self._changed.wait_for(lambda: not self._items or self._pixels + pixels <= self._limit)
            self._items.append((message, pixels))
            self._pixels += pixels
            self._changed.notify_all()

    def get(self) -> tuple[Any, ...]:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._items))
            message, pixels = self._items.popleft()
            self._pixels -= pixels
            self._changed.notify_all()
        return message


def _receive(stream: IO[bytes], inbox: _Inbox) -> None:
    """Read the parent's messages into `inbox` until ``close`` or the end of the input (``abort``)."""
    while True:
        try:
            message: tuple[Any, ...] = pickle.load(stream)  # from the parent that started us
        except (EOFError, OSError, pickle.UnpicklingError):
            message = ("abort",)
        inbox.put(message)
        if message[0] != "write":
            return


def _portable(err: BaseException) -> BaseException:
    """`err` if it survives pickling as itself, else a RasterError with its one line."""
    try:
        back = pickle.loads(pickle.dumps(err))
    except Exception:
        back = None
    if isinstance(back, GeoAdaptersError) and type(back) is type(err) and str(back) == str(err):
        return err
    return RasterError(f"making the polygons failed: {type(err).__name__}: {one_line(err)}")


def _serve() -> None:
    """The child: make and write the polygons of the strips the parent sends, then answer once."""
    import gc

    from geoadapters.raster.vector import PolygonWriter

    stdin, answer_to = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answer
    path, grid, classes, options, overwrite = pickle.load(stdin)  # from the parent that started us
    answer: tuple[Any, ...]
    try:
        inbox = _Inbox(READ_AHEAD_PIXELS)
        threading.Thread(target=_receive, args=(stdin, inbox), daemon=True).start()
        with PolygonWriter(path, grid, classes=classes, options=options, overwrite=overwrite) as writer:
            gc.freeze()  # what the imports made is never garbage: the collector stops walking it (-10 % CPU)
            while (message := inbox.get())[0] == "write":
                writer.write(*message[1:])
            if message[0] != "close":
                raise _Aborted
        answer = ("published",)
    except _Aborted:
        answer = ("aborted",)
    except Exception as err:
        if not isinstance(err, GeoAdaptersError):
            traceback.print_exc()
        answer = ("error", _portable(err))
    pickle.dump(answer, answer_to, protocol=pickle.HIGHEST_PROTOCOL)
    answer_to.flush()


class _Aborted(Exception):
    """The parent ended the input without asking to publish."""
