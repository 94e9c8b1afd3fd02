"""The Hugging Face Hub client: the one module that talks to the Hub.

Downloads go through huggingface_hub's cache, so a file fetched once works offline
(``HF_HUB_OFFLINE=1``). The endpoint is read from ``HF_ENDPOINT`` at each call rather than at import,
so a process can point at a mirror (or a test server on 127.0.0.1) whenever it likes.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download

# (the ignore: huggingface_hub.errors imports HTTPError, its HTTP client's base error class, but leaves it
# out of its exports)
from huggingface_hub.errors import (  # type: ignore[attr-defined]
    EntryNotFoundError,
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from geoadapters.errors import WeightsNotFoundError
from geoadapters.specs import HubFile

__all__ = ["download", "download_files", "endpoint", "list_repos", "upload_folder"]


def endpoint() -> str | None:
    """The Hub endpoint of this process: ``HF_ENDPOINT`` if set, else huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or None


def download(file: HubFile, *, cache_dir: str | Path | None = None) -> Path:
    """Local path of a Hub file, downloaded into the cache unless it is there already.

    Raises:
        WeightsNotFoundError: The file is not cached and cannot be fetched (offline, no network,
            unknown repository, revision or file); the message says how to proceed.
    """
    where = f"{file.filename} of {file.repo_id}@{file.revision}"
    try:
        path = hf_hub_download(
            file.repo_id,
            file.filename,
            revision=file.revision,
            cache_dir=cache_dir,
            endpoint=endpoint(),
            library_name="geoadapters",
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        raise WeightsNotFoundError(
            f"{where} is not in the Hugging Face cache and cannot be downloaded now "
            "(offline or no network). Run once with network access, or pass a local copy of the file "
            "(checkpoint=PATH in Python, --checkpoint PATH on the command line)."
        ) from err
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        raise WeightsNotFoundError(f"{where} does not exist on the Hub ({type(err).__name__}).") from err
    except HfHubHTTPError as err:
        raise WeightsNotFoundError(f"downloading {where} failed: {err}") from err
    return Path(path)


def download_files(
    repo_id: str,
    filenames: Sequence[str],
    *,
    revision: str | None = None,
    optional: Sequence[str] = (),
    cache_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Download several files of one repository at one commit.

    The first file resolves `revision` to a commit; the others are fetched at that commit, so a
    branch that moves meanwhile cannot mix files of two versions. Missing `optional` files are skipped.

    Raises:
        WeightsNotFoundError: A required file (or the repository or revision) cannot be had.
    """
    first = download(HubFile(repo_id, filenames[0], revision or "main"), cache_dir=cache_dir)
    commit = first.parent.name  # huggingface_hub's cache layout: snapshots/<commit>/<file>
    paths = {filenames[0]: first}
    for name in [*filenames[1:], *optional]:
        try:
            paths[name] = download(HubFile(repo_id, name, commit), cache_dir=cache_dir)
        except WeightsNotFoundError:
            if name not in optional:
                raise
    return paths


def upload_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
) -> str:
    """Create `repo_id` (and branch `revision`) if needed, commit the folder's files; return the commit id.

    Raises:
        WeightsNotFoundError: The Hub refused or cannot be reached (offline mode, no network, no
            write access); the message gives the Hub's answer.
    """
    api = HfApi(endpoint=endpoint())
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            revision=revision,
            commit_message=message or "Upload adapter",
        )
    except (OfflineModeIsEnabled, HTTPError) as err:
        raise WeightsNotFoundError(f"uploading {folder} to {repo_id} failed: {err}") from err
    return str(info.oid)


def list_repos(author: str, search: str | None = None) -> list[str]:
    """Ids of the model repositories of `author` (whose names contain `search`).

    Raises:
        WeightsNotFoundError: The Hub cannot be reached (offline mode or no network).
    """
    try:
        return sorted(m.id for m in HfApi(endpoint=endpoint()).list_models(author=author, search=search))
    except (OfflineModeIsEnabled, HTTPError) as err:
        raise WeightsNotFoundError(f"cannot list the Hub repositories of {author}: {err}") from err
