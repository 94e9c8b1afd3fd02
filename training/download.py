"""``download``: fetch a dataset archive from the Hugging Face Hub and unpack it under the data root.

huggingface_hub's ``hf_hub_download`` does the transfer: it resumes an interrupted transfer with
HTTP range requests (up to 5 times while data keeps coming) and checks the size. The archive is
then checked against the checksum the Hub publishes for it (the sha256 of an LFS file, else the git
blob id), unpacked into a temporary folder inside the root, and its top-level folders are renamed
into place, so a root holds complete folders or none. A folder that exists already is kept: the
command can be rerun. Datasets that are not on the Hub get a message saying where to get them.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client: its transport errors end an interrupted transfer
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from geoadapters.hub.transport import endpoint
from training.datasets import get_dataset
from training.datasets.base import HubArchive
from training.errors import DatasetError

__all__ = ["download"]

_DOWNLOADS = ".download"


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
                    z.extractall(staging)
            else:
                with tarfile.open(path) as t:
                    t.extractall(staging, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
            raise DatasetError(f"{path}: cannot unpack the archive ({err})") from err
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
