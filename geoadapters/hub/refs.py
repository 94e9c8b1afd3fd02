"""Adapter references, resolved to a local folder: a folder, a Hub id, or a short name.

A reference is a local folder; a Hub id ``org/repo`` with an optional ``@revision``; or a short name
``<dataset>-<method>`` (``burn_scars-lora``), scoped by its base and looked up as the Hub repository
``<org>/<base>-<dataset>-<method>``. The organisation is ``geoadapters`` unless the
``GEOADAPTERS_ORG`` environment variable names another. References are untrusted text (a web demo's
visitor may type one): anything but these shapes, with ASCII names and a plain revision, is refused
before any request is made.
"""

import os
import re
from pathlib import Path

from geoadapters.errors import AdapterError, WeightsNotFoundError
from geoadapters.hub.folder import CARD, CONFIG, WEIGHTS
from geoadapters.specs import check_repo_id, check_revision

__all__ = ["adapter_org", "is_hub_id", "is_short_name", "resolve_adapter"]

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_SHORT_NAME = re.compile(r"^[\w.]+-[a-z_]+$")
# Files fetched when present: the card, and the PEFT config that LoRA adapters carry.
_OPTIONAL = (CARD, "adapter_config.json")


def adapter_org() -> str:
    """Hub organisation that short adapter names resolve in.

    Raises:
        AdapterError: ``GEOADAPTERS_ORG`` is no Hub organisation name.
    """
    org = os.environ.get("GEOADAPTERS_ORG") or "geoadapters"
    try:
        check_repo_id(f"{org}/x")
    except ValueError as err:
        raise AdapterError(f"GEOADAPTERS_ORG={org[:100]!r} is no Hub organisation name") from err
    return org


def is_hub_id(reference: str) -> bool:
    """Whether a text is a Hub repository id ``org/name`` (without a revision)."""
    return bool(_HUB_ID.match(reference))


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
    if not str(reference).strip():
        raise AdapterError("the adapter reference is empty: give a folder, org/name or <dataset>-<method>")
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    text = str(reference)
    shown = text if len(text) <= 100 else text[:97] + "..."
    repo_id, _, pinned = text.partition("@")
    if _SHORT_NAME.fullmatch(repo_id) and repo_id.isascii():
        if not base:
            raise AdapterError(f"{shown!r} is a short adapter name: give its base model (--model BASE)")
        repo_id = f"{adapter_org()}/{base}-{repo_id}"
    elif not _HUB_ID.fullmatch(repo_id) or path.exists():
        what = "a file, not an adapter folder" if path.exists() else "no adapter folder"
        raise AdapterError(
            f"{shown!r} is {what}, Hub id (org/name[@revision]) or short name (<dataset>-<method>)"
        )
    try:
        check_repo_id(repo_id)
        wanted = check_revision(revision or pinned) if (revision or pinned) else None
    except ValueError as err:
        raise AdapterError(f"adapter reference {shown!r}: {err}") from err
    from geoadapters.hub.client import download_files  # huggingface_hub: 0.3 s, for Hub references only

    try:
        files = download_files(repo_id, [CONFIG, WEIGHTS], revision=wanted, optional=_OPTIONAL)
    except WeightsNotFoundError as err:
        if repo_id == text.partition("@")[0]:
            raise
        raise WeightsNotFoundError(f"the short name {shown!r} stands for {repo_id}: {err}") from err
    return files[CONFIG].parent
