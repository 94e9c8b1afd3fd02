"""The Hugging Face Hub client: the one module that talks to the Hub.

Downloads go through huggingface_hub's cache, so a file fetched once works offline
(``HF_HUB_OFFLINE=1``). The endpoint is read from ``HF_ENDPOINT`` at each call rather than at import,
so a process can point at a mirror (or a test server on 127.0.0.1) whenever it likes.
"""

import os
from pathlib import Path

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from geoadapters.errors import WeightsNotFoundError
from geoadapters.specs import HubFile

__all__ = ["download", "endpoint"]


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
