"""The adapters the demo offers, and their predictions: each model loaded once per choice and kept.

This is the one place that decides what the demo can run: the bundled offline model always; adapters
in the local Hugging Face cache; and, when the Hub answers within a few seconds, the adapters its
organisation publishes (`geoadapters.references.adapter_org`). A choice is a label and the adapter
reference it stands for, resolved by `geoadapters.references.resolve_adapter` as everywhere else; what a
label loads is fixed here, so a visitor can only pick one of them (never type a path or a repository).
The models are kept by `geoadapters.resident.ResidentAdapters`, as `geoadapters serve` keeps them: all
adapters of one base share that base's frozen weights, a full fine-tune (which replaces every base
weight) is a model of its own, and the least recently used are dropped beyond the memory budget.
"""

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoadapters.config import AdapterConfig
from geoadapters.default import DEFAULT_BASE, DEFAULT_NAME
from geoadapters.errors import AdapterError, GeoAdaptersError
from geoadapters.references import resolve_adapter

if TYPE_CHECKING:
    from geoadapters.inference.predict import PredictReport
    from geoadapters.resident import ResidentAdapters

__all__ = ["BUNDLED", "EXAMPLES", "Choice", "contract", "find_choices", "predict"]

EXAMPLES = Path(__file__).parent / "examples"
# Seconds the listing of the Hub may take before the demo starts without it.
HUB_TIMEOUT = 3.0


@dataclass(frozen=True)
class Choice:
    """An adapter the demo offers.

    Attributes:
        label: What the visitor picks.
        adapter: The adapter reference it loads (a name, a folder or a Hub id).
    """

    label: str
    adapter: str


BUNDLED = Choice(f"{DEFAULT_NAME} on {DEFAULT_BASE} (bundled)", DEFAULT_NAME)

_choices: dict[str, Choice] = {BUNDLED.label: BUNDLED}
_resident: "ResidentAdapters | None" = None  # built on first use (it imports torch)
_lock = threading.Lock()


def _cached() -> list[Choice]:
    """Adapters in the local Hugging Face cache (snapshots holding a geoadapter.json)."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    from geoadapters.hub.folder import CONFIG

    try:
        repos = scan_cache_dir(constants.HF_HUB_CACHE).repos  # as HF_HUB_CACHE is now, not at import
    except (CacheNotFound, OSError):
        return []
    found = []
    for repo in sorted(repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            if any(f.file_name == CONFIG for f in revision.files):
                try:
                    source = resolve_adapter(revision.snapshot_path)
                except GeoAdaptersError:
                    continue
                label = f"{repo.repo_id}@{revision.commit_hash[:8]} on {source.base} (cached)"
                found.append(Choice(label, str(revision.snapshot_path)))
                break
    return found


def _published(timeout: float) -> list[Choice]:
    """Adapters the Hub lists for the adapter organisation, if it answers within `timeout` seconds.

    Their base is known when one is chosen (its files are downloaded then), not from the name.
    """
    from geoadapters.hub.transport import list_repos
    from geoadapters.references import adapter_org

    listed: list[str] = []

    def ask() -> None:
        with contextlib.suppress(GeoAdaptersError):  # not reachable: the demo runs without it
            listed.extend(list_repos(adapter_org()))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout)
    return [Choice(f"{repo_id} (Hub)", repo_id) for repo_id in list(listed)]


def find_choices(hub: bool = True, timeout: float = HUB_TIMEOUT) -> list[Choice]:
    """The adapters to offer, the bundled one first; they become the labels `runner` accepts.

    Args:
        hub: Also look in the local Hugging Face cache and on the Hub.
        timeout: Seconds to wait for the Hub's listing.
    """
    found = [BUNDLED]
    if hub:
        found += _cached()
        cached = {c.adapter for c in found}
        found += [c for c in _published(timeout) if c.adapter not in cached]
    with _lock:
        _choices.clear()
        _choices.update((c.label, c) for c in found)
    return found


def _choice(label: str) -> Choice:
    choice = _choices.get(label)
    if choice is None:
        raise AdapterError(f"{label[:100]!r} is not one of the adapters this demo offers")
    return choice


def contract(label: str) -> AdapterConfig:
    """The `geoadapter.json` of an offered choice (its bands, classes), without loading its weights.

    Raises:
        AdapterError: `label` is not one of the offered choices.
        GeoAdaptersError: The adapter does not resolve (see `geoadapters.references.resolve_adapter`).
    """
    with _lock:
        choice = _choice(label)
    return resolve_adapter(choice.adapter).config


def predict(
    label: str,
    scene: str | Path,
    output: Path,
    *,
    progress: "Callable[[int, int], None] | None" = None,
    **options: Any,
) -> "PredictReport":
    """Predict `scene` into `output` with an offered choice (`geoadapters.resident.ResidentAdapters.predict`).

    Its model is loaded on first use and kept while it fits the memory budget; `options` are fields of
    `geoadapters.inference.request.PredictOptions`.

    Raises:
        AdapterError: `label` is not one of the offered choices.
        GeoAdaptersError: The adapter does not load (see `geoadapters.load`), or the scene does not fit it.
    """
    global _resident
    with _lock:
        choice = _choice(label)
        if _resident is None:
            from geoadapters.config import memory_budget
            from geoadapters.resident import ResidentAdapters

            _resident = ResidentAdapters(memory_budget() / 2**30)
    # thread-safe: two first requests build one model
    return _resident.predict(choice.adapter, scene, output, progress=progress, **options)
