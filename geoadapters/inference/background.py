"""Reading ahead and writing behind in background threads, so the model never waits for I/O.

`read_ahead` reads the next item (a batch of tiles) in a thread while the caller computes the current
one; `write_behind` passes the caller's results (finished strips) to a sink in a thread, in order.
Both hold at most a fixed number of items, so memory stays bounded. An error in a thread is raised in
the caller as the same exception; an error or interrupt in the caller (Ctrl-C, SIGTERM) stops both
threads and waits for them before it propagates. Each thread is the only user of its objects while
it runs (GDAL datasets are not thread-safe): the reader of what it reads, the writer of the sink's.
"""

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["read_ahead", "write_behind"]

Item = TypeVar("Item")
Result = TypeVar("Result")

# Strips waiting to be written while the writer writes one: bounds the memory of a slow sink.
WRITE_DEPTH = 2


def _drain(pending: "queue.Queue[Item]") -> None:
    """Remove everything queued."""
    with contextlib.suppress(queue.Empty):
        while True:
            pending.get_nowait()


@contextlib.contextmanager
def read_ahead(
    items: Iterable[Item], read: Callable[[Item], Result]
) -> Iterator[Iterator[tuple[Item, Result]]]:
    """(item, ``read(item)``) in order, the next one read in a background thread meanwhile.

    Raises:
        BaseException: Whatever `read` (or iterating `items`) raised, when its item is reached.
    """
    ready: queue.Queue[tuple[Item, Result] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ready.put((item, read(item)))
            ready.put(None)
        except BaseException as err:  # handed to the caller, which raises it
            ready.put(err)

    def results() -> Iterator[tuple[Item, Result]]:
        while (got := ready.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got

    thread = threading.Thread(target=work, name="geoadapters-reader", daemon=True)
    thread.start()
    try:
        yield results()
    finally:
        stop.set()
        while thread.is_alive():  # a read in progress finishes; its put must not block
            _drain(ready)
            thread.join(0.01)


@contextlib.contextmanager
def write_behind(sink: Callable[..., None]) -> Iterator[Callable[..., None]]:
    """A function that queues its arguments for `sink`, called in order in a background thread.

    Leaving the context waits until every call is done. Once `sink` fails no more calls are made.

    Raises:
        BaseException: What `sink` raised: from the next call after the failure, or on leaving.
    """
    pending: queue.Queue[tuple[object, ...] | None] = queue.Queue(maxsize=WRITE_DEPTH)
    failed: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        while (args := pending.get()) is not None:
            if failed or stop.is_set():
                continue  # consume to the end, so the caller never blocks on a full queue
            try:
                sink(*args)
            except BaseException as err:  # handed to the caller, which raises it
                failed.append(err)

    def put(*args: object) -> None:
        if failed:
            raise failed[0]
        pending.put(args)

    thread = threading.Thread(target=work, name="geoadapters-writer", daemon=True)
    thread.start()
    try:
        yield put
        pending.put(None)
        thread.join()
    except BaseException:
        stop.set()  # what is still queued is not written: the output is discarded
        _drain(pending)  # only this thread puts: now there is room for the end
        pending.put(None)
        thread.join()
        raise
    if failed:
        raise failed[0]
