"""Adapter references, resolved to a local folder: a folder, a Hub id, or a short name.

A reference is a local folder; a Hub id ``org/repo`` with an optional ``@revision``; or a short name
``<dataset>-<method>`` (``burn_scars-lora``), scoped by its base and looked up as the Hub repository
``<org>/<base>-<dataset>-<method>``. The organisation is ``geoadapters`` unless the
``GEOADAPTERS_ORG`` environment variable names another.
"""

import os
import re
from pathlib import Path

from geoadapters.errors import AdapterError, WeightsNotFoundError
from geoadapters.hub.client import download_files
from geoadapters.hub.folder import CARD, CONFIG, WEIGHTS

__all__ = ["adapter_org", "is_short_name", "resolve_adapter"]

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_SHORT_NAME = re.compile(r"^[\w.]+-[a-z_]+$")
# Files fetched when present: the card, and the PEFT config that LoRA adapters carry.
_OPTIONAL = (CARD, "adapter_config.json")


def adapter_org() -> str:
    """Hub organisation that short adapter names resolve in."""
    return os.environ.get("GEOADAPTERS_ORG") or "geoadapters"


def is_short_name(reference: str | Path) -> bool:
    """Whether a reference is a short name ``<dataset>-<method>`` (not a folder or Hub id)."""
    text = str(reference)
    return not Path(text).expanduser().is_dir() and bool(_SHORT_NAME.match(text.partition("@")[0]))


def resolve_adapter(reference: str | Path, base: str | None, *, revision: str | None = None) -> Path:
    """Local folder of an adapter reference, downloading it from the Hub when it is not local.

    Args:
        reference: Folder, ``org/repo[@revision]`` or ``<dataset>-<method>``.
        base: Catalog name of the base; needed for short names only.
        revision: Hub revision, overriding an ``@revision`` in the reference.

    Raises:
        AdapterError: The reference is neither a folder, a Hub id nor a short name, or a short name
            comes without its base.
        WeightsNotFoundError: The Hub repository, revision or a file cannot be found or fetched.
    """
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    text = str(reference)
    repo_id, _, pinned = text.partition("@")
    if _SHORT_NAME.match(repo_id):
        if not base:
            raise AdapterError(f"{text!r} is a short adapter name: give its base model (--model BASE)")
        repo_id = f"{adapter_org()}/{base}-{repo_id}"
    elif not _HUB_ID.match(repo_id):
        raise AdapterError(
            f"{text!r} is no adapter folder, Hub id (org/name[@revision]) or short name (<dataset>-<method>)"
        )
    try:
        files = download_files(
            repo_id, [CONFIG, WEIGHTS], revision=revision or pinned or None, optional=_OPTIONAL
        )
    except WeightsNotFoundError as err:
        if repo_id == text.partition("@")[0]:
            raise
        raise WeightsNotFoundError(f"the short name {text!r} stands for {repo_id}: {err}") from err
    return files[CONFIG].parent
