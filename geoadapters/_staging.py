"""Outputs that appear whole or not at all, and the one overwrite policy of every output.

Everything geoadapters writes (adapter folders, predictions, ONNX models) is first written into a
private folder next to its destination and renamed into place when complete, so an error or an
interrupt never leaves a half-written output, and an existing output is replaced only when asked.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geoadapters.errors import OutputExistsError

__all__ = ["check_overwrite", "staged_dir", "staged_file"]


def check_overwrite(dest: Path, overwrite: bool) -> None:
    """Refuse an existing `dest` unless `overwrite`.

    Raises:
        OutputExistsError: `dest` exists and `overwrite` is False.
    """
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists; pass --overwrite (overwrite=True in Python) to replace it")


def _staging_folder(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))


def _shareable(folder: Path) -> None:
    """Give a staged folder and its files the permissions of the user's umask (mkdtemp makes 0700)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


@contextlib.contextmanager
def staged_dir(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A new empty folder to fill; on success it replaces `dest` whole, on error it is removed.

    Raises:
        OutputExistsError: `dest` exists and `overwrite` is False.
    """
    dest = Path(dest)
    check_overwrite(dest, overwrite)
    staging = _staging_folder(dest)
    try:
        yield staging
        _shareable(staging)
        if dest.exists():
            previous = staging.with_suffix(".old")
            dest.rename(previous)
            staging.rename(dest)
            shutil.rmtree(previous)
        else:
            staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def staged_file(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A path to write `dest` to (and files that go beside it, such as ONNX external data).

    On success every file written next to the yielded path moves beside `dest`, `dest` itself last;
    on error nothing moves and the staging folder is removed.

    Raises:
        OutputExistsError: `dest` exists and `overwrite` is False.
    """
    dest = Path(dest)
    check_overwrite(dest, overwrite)
    staging = _staging_folder(dest)
    try:
        yield staging / dest.name
        for file in sorted(staging.iterdir(), key=lambda f: f.name == dest.name):
            os.replace(file, dest.parent / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
