"""Outputs that appear whole or not at all, and the one overwrite policy of every output.

Everything geoadapters writes (adapter folders, predictions, ONNX models) is first written into a
private folder next to its destination and moved into place when complete, so an error or an
interrupt never leaves a half-written output. An existing output is replaced only when asked: without
`overwrite` the final move cannot replace a path that appeared meanwhile (a file is published with
`os.link`, which fails on an existing name; a folder claims its name with `os.mkdir` first), so two
runs writing the same new output never both succeed. Staging folders are named after the host and
process that own them (``.NAME.HOST.PID.XXXX.tmp``); one left behind by a process that was killed
(SIGKILL, power loss) is removed by the next write to the same destination from the same host.
"""

import contextlib
import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geoadapters.errors import OutputError, OutputExistsError

__all__ = ["check_name", "check_overwrite", "check_writable", "staged_dir", "staged_file"]

# Bytes of one path component on every common file system (ext4, XFS, APFS, NTFS in UTF-16 units).
NAME_MAX = 255


def _exists_error(dest: Path) -> OutputExistsError:
    return OutputExistsError(f"{dest} exists; `overwrite` replaces it")


def check_name(path: Path) -> None:
    """Refuse a path with a component longer than file systems take.

    Raises:
        OutputError: Naming the component, in one line.
    """
    long = [part for part in path.parts if len(os.fsencode(part)) > NAME_MAX]
    if long:
        raise OutputError(
            f"cannot write {str(path)[:80]}...: the name {long[0][:40]}... has {len(os.fsencode(long[0]))} "
            f"bytes, file systems take {NAME_MAX}; give a shorter output name"
        )


def check_writable(dest: Path) -> None:
    """Refuse a destination that cannot be written: a name too long, a path below a file, a read-only folder.

    Raises:
        OutputError: Naming the output and why, in one line.
    """
    check_name(dest)
    folder = dest.parent
    try:
        while not (folder.exists() or folder.is_symlink()) and folder != folder.parent:
            folder = folder.parent
    except OSError as err:
        raise OutputError(f"cannot write {dest}: {err.strerror}") from None
    if not folder.is_dir():
        raise OutputError(f"cannot write {dest}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {dest}: the folder {folder} is not writable")


def check_overwrite(dest: Path, overwrite: bool) -> None:
    """Refuse an output that cannot be written (`check_writable`), or an existing one unless `overwrite`.

    Raises:
        OutputError: `dest` cannot be written there.
        OutputExistsError: `dest` exists (or is a dangling symlink) and `overwrite` is False.
    """
    check_writable(dest)
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise _exists_error(dest)


def _host() -> str:
    return "".join(c if c.isalnum() or c == "-" else "_" for c in socket.gethostname())[:40] or "host"


def _prefix(dest: Path) -> str:
    """The start of the names of `dest`'s staging folders (its name shortened, so that they fit too)."""
    return f".{dest.name[: NAME_MAX - 80]}.{_host()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_stale(dest: Path) -> None:
    """Remove staging folders of `dest` left by processes of this host that no longer run."""
    prefix = _prefix(dest)
    with contextlib.suppress(OSError):
        for entry in dest.parent.iterdir():
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            pid = entry.name[len(prefix) :].split(".")[0]
            if pid.isdigit() and not _alive(int(pid)) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)


def _staging_folder(dest: Path) -> Path:
    check_writable(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(dest)
        prefix = f"{_prefix(dest)}{os.getpid()}."
        return Path(tempfile.mkdtemp(dir=dest.parent, prefix=prefix, suffix=".tmp"))
    except OSError as err:  # a folder made read-only or a file put in its place meanwhile
        raise OutputError(f"cannot write {dest}: {err.strerror}") from None


def _shareable(folder: Path) -> None:
    """Give a staged folder and its files the permissions of the user's umask (mkdtemp makes 0700)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for file in folder.iterdir():
        file.chmod(0o666 & ~umask)


def _publish_file(file: Path, dest: Path, overwrite: bool) -> None:
    """Move `file` to `dest`; without `overwrite`, never replace a `dest` that exists by then."""
    if overwrite:
        if dest.is_dir() and not dest.is_symlink():
            raise OutputExistsError(f"{dest} is a folder; it is not replaced by a file")
        os.replace(file, dest)
        return
    try:
        os.link(file, dest)  # atomic, and fails if `dest` exists
    except FileExistsError:
        raise _exists_error(dest) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # a file system without hard links: claim the name, then replace the empty claim
        try:
            os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise _exists_error(dest) from None
        os.replace(file, dest)
        return
    file.unlink()


@contextlib.contextmanager
def staged_dir(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A new empty folder to fill; on success it replaces `dest` whole, on error it is removed.

    Raises:
        OutputExistsError: `dest` exists (or appears meanwhile) and `overwrite` is False.
    """
    dest = Path(dest)
    check_overwrite(dest, overwrite)
    staging = _staging_folder(dest)
    try:
        yield staging
        _shareable(staging)
        if overwrite and (dest.exists() or dest.is_symlink()):
            previous = staging.with_suffix(".old")
            dest.rename(previous)
            staging.rename(dest)
            if previous.is_dir() and not previous.is_symlink():
                shutil.rmtree(previous)
            else:
                previous.unlink()
        else:
            try:
                dest.mkdir()  # claims the name: fails if another run published it meanwhile
            except FileExistsError:
                raise _exists_error(dest) from None
            staging.rename(dest)  # replaces the empty folder just made, atomically
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def staged_file(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A path to write `dest` to (and files that go beside it, such as ONNX external data).

    On success every file written next to the yielded path moves beside `dest`, `dest` itself last;
    on error nothing moves and the staging folder is removed.

    Raises:
        OutputExistsError: `dest` (or a file beside it) exists, or appears meanwhile, and `overwrite`
            is False; or `dest` is a folder.
    """
    dest = Path(dest)
    if dest.is_dir() and not dest.is_symlink():
        raise OutputExistsError(f"{dest} is an existing folder; give a file name for the output")
    check_overwrite(dest, overwrite)
    staging = _staging_folder(dest)
    try:
        yield staging / dest.name
        for file in sorted(staging.iterdir(), key=lambda f: f.name == dest.name):
            _publish_file(file, dest.parent / file.name, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
