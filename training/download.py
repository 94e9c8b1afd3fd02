"""``download``: fetch a dataset archive from the Hugging Face Hub and unpack it under the data root.

huggingface_hub's ``hf_hub_download`` does the transfer: it resumes an interrupted transfer with
HTTP range requests (up to 5 times while data keeps coming) and checks the size. The archive is
then checked against the checksum the Hub publishes for it (the sha256 of an LFS file, else the git
blob id), unpacked into a temporary folder inside the root, and its top-level folders are renamed
into place, so a root holds complete folders or none. The archive comes from whoever controls the
repository (or ``$HF_ENDPOINT``): what its members declare is bounded before anything is written (at
most `MAX_MEMBERS` members, `MAX_RATIO` times the archive's size and the free disk space in all), and
tar members are unpacked with tarfile's "data" filter (no member out of the folder, no link out of
it, no device), zip members with zipfile's name cleaning. A folder that exists already is kept: the
command can be rerun. Datasets that are not on the Hub get a message saying where to get them.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client: its transport errors end an interrupted transfer
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from geoadapters.errors import one_line
from geoadapters.hub.transport import endpoint
from training.datasets import get_dataset
from training.datasets.base import HubArchive
from training.errors import DatasetError

__all__ = ["download"]

_DOWNLOADS = ".download"
MAX_MEMBERS = 1_000_000
MAX_RATIO = 100  # datasets of GeoTIFFs and HDF5 compress 1-10x; a bomb compresses 1000x


def download(name: str, root: Path, *, revision: str = "main") -> list[Path]:
    """Download and unpack a dataset into `root`; return its folders.

    Args:
        name: Dataset name.
        root: Data root to create or complete.
        revision: Branch, tag or commit of the Hub dataset repository.

    Raises:
        DatasetError: The dataset is not on the Hub (the message says where to get it), or the
            transfer, the checksum or the archive failed.
    """
    cls = get_dataset(name)
    if cls.hub is None:
        raise DatasetError(f"{name} cannot be downloaded by this command. {cls.source}")
    archive = cls.hub
    folders = [root / folder for folder in archive.folders]
    if all(folder.is_dir() for folder in folders):
        return folders
    root.mkdir(parents=True, exist_ok=True)
    path = _fetch(archive, root / _DOWNLOADS, revision)
    _unpack(path, root, archive)
    path.unlink()
    return folders


def _fetch(archive: HubArchive, folder: Path, revision: str) -> Path:
    url = hf_hub_url(
        archive.repo_id, archive.filename, repo_type="dataset", revision=revision, endpoint=endpoint()
    )
    where = f"{archive.repo_id}/{archive.filename}@{revision}"
    try:
        expected = get_hf_file_metadata(url)
        path = Path(
            hf_hub_download(
                archive.repo_id,
                archive.filename,
                repo_type="dataset",
                revision=revision,
                local_dir=folder,
                endpoint=endpoint(),
            )
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, httpx2.HTTPError, OSError) as err:
        raise DatasetError(f"download of {where} failed: {err}".splitlines()[0]) from err
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        raise DatasetError(f"{path}: {size} bytes, the Hub says {expected.size}; run the command again")
    digest = _digest(path, expected.etag or "")
    if digest != expected.etag:
        path.unlink()
        raise DatasetError(
            f"{path}: checksum {digest} differs from the Hub's {expected.etag}; deleted, run again"
        )
    return path


def _digest(path: Path, etag: str) -> str:
    """The file's sha256 (what the Hub publishes for LFS files) or, for a 40-hex etag, its git blob id."""
    sha = hashlib.sha1(b"blob %d\0" % path.stat().st_size) if len(etag) == 40 else hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _unpack(path: Path, root: Path, archive: HubArchive) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    _check_sizes(path, root, (member.file_size for member in z.infolist()))
                    z.extractall(staging)
            else:
                with tarfile.open(path) as t:
                    _check_sizes(path, root, (member.size for member in t))  # stops at the bound
                    t.extractall(staging, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
            raise DatasetError(f"{path}: cannot unpack the archive ({one_line(err)})") from err
        # An archive of one folder's contents rather than of the folder unpacks into that folder.
        flat = len(archive.folders) == 1 and not (staging / archive.folders[0]).is_dir()
        for folder in archive.folders:
            source = staging if flat else staging / folder
            if not source.is_dir():
                raise DatasetError(f"{path}: the archive has no folder {folder}/")
            if not (root / folder).exists():
                os.replace(source, root / folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_sizes(path: Path, root: Path, sizes: Iterable[int]) -> None:
    """Refuse an archive of too many members or too many declared bytes, before any is written.

    At most `MAX_MEMBERS` members, and `MAX_RATIO` times the archive's size or the free space under
    `root` in all, whichever is less.
    """
    free = shutil.disk_usage(root).free
    limit = min(MAX_RATIO * path.stat().st_size, free)
    total = 0
    for count, size in enumerate(sizes, 1):
        total += size
        if count > MAX_MEMBERS:
            raise DatasetError(f"{path}: the archive holds over {MAX_MEMBERS:,} members; not unpacked")
        if total > limit:
            why = "the free disk space" if limit == free else f"{MAX_RATIO} times the archive's size"
            raise DatasetError(
                f"{path}: the archive's members declare over {limit:,} bytes ({why}); not unpacked"
            )
