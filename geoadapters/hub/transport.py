"""Transport to and from the Hugging Face Hub: downloads, uploads, listings, revisions, the cache.

The one module that talks to the Hub; it knows files and repositories, not what an adapter is.

Downloads go through huggingface_hub's cache, so a file fetched once works offline
(``HF_HUB_OFFLINE=1``). The endpoint is read from ``HF_ENDPOINT`` at each call rather than at import,
so a process can point at a mirror (or a test server on 127.0.0.1) whenever it likes. The endpoint
may answer badly (errors, truncated or hostile bodies, silence): every failure of huggingface_hub or
of HTTP becomes a `WeightsNotFoundError` whose one line says what happened, and no request waits
longer than `TIMEOUT` seconds for the server. Revisions and names are checked (`HubFile`) before any
request, so no untrusted text reaches a URL or a cache path.

Before the first request to an endpoint, one TCP connection with a short timeout tells whether it can
be reached at all: if not, this process works from the cache only and says so once, instead of
letting huggingface_hub retry for half a minute (skipped when a proxy is configured).
"""

import functools
import logging
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

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

from geoadapters.errors import HubUnreachableError, WeightsNotFoundError
from geoadapters.specs import HubFile

__all__ = ["TIMEOUT", "download", "download_files", "endpoint", "list_repos", "reachable", "upload_folder"]

# Seconds to wait for the server to answer a metadata request or to send more bytes of a file.
TIMEOUT = 10.0


def _status(err: BaseException) -> int | None:
    """The HTTP status of the response behind `err` or the errors it was raised from, if any."""
    seen: BaseException | None = err
    while seen is not None:
        response = getattr(seen, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


_LOG = logging.getLogger(__name__)
_DEFAULT_ENDPOINT = "https://huggingface.co"
_PROBE_SECONDS = 3.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def endpoint() -> str | None:
    """The Hub endpoint of this process: ``HF_ENDPOINT`` if set, else huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or None


@functools.cache
def _probe(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=_PROBE_SECONDS):
            return True
    except OSError as err:
        _LOG.warning("the Hub at %s cannot be reached (%s): working from the local cache only", url, err)
        return False


def reachable() -> bool:
    """Whether this process's Hub endpoint accepts connections (checked once per endpoint).

    Never in huggingface_hub's offline mode (``HF_HUB_OFFLINE``): no connection is tried.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        return False
    if any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return True
    return _probe(endpoint() or _DEFAULT_ENDPOINT)


def download(file: HubFile, *, cache_dir: str | Path | None = None, hint: str = "") -> Path:
    """Local path of a Hub file, downloaded into the cache unless it is there already.

    `hint`: what the caller can do instead when the file is neither cached nor downloadable.

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
            etag_timeout=TIMEOUT,
            local_files_only=not reachable(),
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        status = _status(err)
        if status is not None:  # the server answered, with an error: not "offline"
            raise WeightsNotFoundError(f"downloading {where} failed: the Hub answered HTTP {status}") from err
        instead = f"; {hint}" if hint else ""
        raise HubUnreachableError(
            f"{where} is not in the Hugging Face cache and cannot be downloaded now "
            f"(offline or no network){instead}"
        ) from err
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        missing = "repository" if isinstance(err, RepositoryNotFoundError) else "file or revision"
        raise WeightsNotFoundError(
            f"{where} does not exist on the Hub: no such {missing} is published ({type(err).__name__})."
        ) from err
    except (HfHubHTTPError, HTTPError) as err:
        status = _status(err)
        answer = f"the Hub answered HTTP {status}" if status is not None else _one_line(err)
        raise WeightsNotFoundError(f"downloading {where} failed: {answer}") from err
    except (OSError, ValueError) as err:  # short or truncated bodies, bad headers, a full disk
        raise WeightsNotFoundError(f"downloading {where} failed: {_one_line(err)}") from err
    return Path(path)


def download_files(
    repo_id: str,
    filenames: Sequence[str],
    *,
    revision: str | None = None,
    optional: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    hint: str = "",
) -> dict[str, Path]:
    """Download several files of one repository at one commit.

    The first file resolves `revision` to a commit; the others are fetched at that commit, so a
    branch that moves meanwhile cannot mix files of two versions. Missing `optional` files are skipped;
    `hint` is `download`'s.

    Raises:
        WeightsNotFoundError: A required file (or the repository or revision) cannot be had.
    """
    first_file = HubFile(repo_id, filenames[0], revision or "main")
    first = download(first_file, cache_dir=cache_dir, hint=hint)
    commit = first.parent.name  # huggingface_hub's cache layout: snapshots/<commit>/<file>
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise WeightsNotFoundError(f"{repo_id}@{revision or 'main'}: the Hub gave no commit id for it")
    paths = {filenames[0]: first}
    for name in [*filenames[1:], *optional]:
        try:
            paths[name] = download(HubFile(repo_id, name, commit), cache_dir=cache_dir, hint=hint)
        except WeightsNotFoundError:
            if name not in optional:
                raise
    return paths


def upload_folder(
    folder: str | Path,
    repo_id: str,
    files: list[str],
    *,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
) -> str:
    """Create `repo_id` (and branch `revision`) if needed, commit `files` of the folder; return the commit id.

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
            allow_patterns=files,  # names without wildcards: exactly these files
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
    if not reachable():
        raise WeightsNotFoundError(
            f"cannot list the Hub repositories of {author}: the Hub at {endpoint() or _DEFAULT_ENDPOINT} "
            "cannot be reached (offline or no network)"
        )
    try:
        return sorted(m.id for m in HfApi(endpoint=endpoint()).list_models(author=author, search=search))
    except (OfflineModeIsEnabled, HTTPError, HfHubHTTPError, OSError, ValueError, KeyError, TypeError) as err:
        raise WeightsNotFoundError(f"cannot list the Hub repositories of {author}: {_one_line(err)}") from err
