"""Adapter references: what each kind a user can type means, decided in one place (`resolve_adapter`).

A reference names an adapter. The first of these rules that applies decides what it is:

1. An existing local path: a folder is an adapter folder, a file ending in ``.onnx`` an exported
   model (any other file is an error).
2. A name this package knows: the bundled offline model (``sen1floods11-tiny``), or a published
   TerraTorch fine-tune of the catalog (``burn_scars-terratorch`` on ``prithvi-300``; without a base
   when one base has that name), downloaded and converted once.
3. A short name ``<dataset>-<method>`` on a base: the Hub repository ``<org>/<base>-<dataset>-<method>``,
   where ``<org>`` is ``$GEOADAPTERS_ORG`` or ``geoadapters``.
4. A Hub id ``org/name``.

Names (2-4) take an optional ``@revision`` (a commit, branch or tag). References are untrusted text (a
web demo's visitor may type one): anything but these shapes, with ASCII names and a plain revision, is
refused before any request is made. Every entry point (`geoadapters.load`, `AdapterSet`, the commands,
Dask workers, the demo, training) calls `resolve_adapter`, so a reference means the same everywhere, and
one that resolves to nothing gets the same one-line error everywhere, naming what was tried.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geoadapters.catalog import PublishedModel, find_published, get_base
from geoadapters.config import AdapterConfig
from geoadapters.default import DEFAULT_ADAPTER, DEFAULT_NAME
from geoadapters.errors import AdapterError, HubUnreachableError, WeightsNotFoundError
from geoadapters.hub.folder import CARD, CONFIG, WEIGHTS, read_config
from geoadapters.specs import check_repo_id, check_revision

__all__ = ["AdapterSource", "SourceKind", "adapter_org", "resolve_adapter"]

SourceKind = Literal["folder", "onnx", "bundled", "published", "hub"]

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
_SHORT_NAME = re.compile(r"[\w.]+-[a-z_]+")
# Files fetched when present: the card, and the PEFT config that LoRA adapters carry.
_OPTIONAL = (CARD, "adapter_config.json")
_SHAPES = "a folder, an .onnx file, org/name[@revision] or <dataset>-<method>"


def adapter_org() -> str:
    """Hub organisation that short adapter names resolve in: ``$GEOADAPTERS_ORG`` or ``geoadapters``.

    Raises:
        AdapterError: ``GEOADAPTERS_ORG`` is no Hub organisation name.
    """
    org = os.environ.get("GEOADAPTERS_ORG") or "geoadapters"
    try:
        check_repo_id(f"{org}/x")
    except ValueError as err:
        raise AdapterError(f"GEOADAPTERS_ORG={org[:100]!r} is no Hub organisation name") from err
    return org


@dataclass(frozen=True)
class AdapterSource:
    """What an adapter reference resolved to: its files on this machine and its validated config.

    Attributes:
        reference: The reference as given.
        kind: ``folder`` or ``onnx`` (a local path), ``bundled``, ``published`` (a converted TerraTorch
            fine-tune), or ``hub`` (a Hub repository, by id or short name).
        path: The adapter folder, or the ``.onnx`` file.
        config: The adapter's validated config (an ONNX file's from its metadata).
        origin: Where the files came from, for messages: the path, or ``org/name@commit``.
        pinned: A reference to exactly these files that resolves again without asking the Hub (a
            path, or a name at its commit): what Dask workers load.
    """

    reference: str
    kind: SourceKind
    path: Path
    config: AdapterConfig
    origin: str
    pinned: str

    @property
    def base(self) -> str:
        """Catalog name of the base model the adapter is for."""
        return self.config.base.name

    def base_weights(self, checkpoint: str | Path | None = None, base_revision: str | None = None) -> str:
        """The base weights a model of this adapter runs on, as they will be loaded.

        Never as the adapter claims: none for files that carry every weight, else the checkpoint or the
        catalog's Hub file at its pinned revision (or `base_revision`).
        """
        if self.kind == "onnx":
            return "none: an ONNX file carries every weight"
        if self.config.method.carries_base_weights:
            return f"{self.base}: every weight from the adapter (a full fine-tune; no official weights used)"
        if checkpoint is not None:
            return f"{self.base}: {checkpoint}"
        weights = get_base(self.base).weights
        return f"{self.base}: {weights.repo_id}/{weights.filename} @ {base_revision or weights.revision}"

    @property
    def unloadable(self) -> str | None:
        """Why no model can run this adapter (`AdapterConfig.unloadable`), or None if one can."""
        return self.config.unloadable(carries_weights=self.kind == "onnx")

    def check_loadable(self) -> None:
        """Refuse an adapter that no model can run.

        Raises:
            AdapterError: Trained on random base weights that it does not carry.
        """
        reason = self.unloadable
        if reason is not None:
            raise AdapterError(f"adapter {_shown(self.reference)} is not loaded: {reason}")

    def folder(self, user: str) -> Path:
        """The adapter folder, for `user` (what needs it, e.g. "geoadapters.load").

        Raises:
            AdapterError: The reference is an ONNX file, which only predict runs.
        """
        if self.kind == "onnx":
            raise AdapterError(
                f"{_shown(self.reference)} is an ONNX file, which {user} cannot use: it needs an adapter "
                "folder or Hub reference; run ONNX files with geoadapters predict or make_runner(FILE)"
            )
        return self.path


def _shown(text: str) -> str:
    return repr(text if len(text) <= 100 else text[:97] + "...")


def _revision(reference: str, pinned: str, revision: str | None) -> str | None:
    """The revision asked for: the override, else the reference's ``@revision``; checked."""
    wanted = revision or pinned or None
    if wanted is None:
        return None
    try:
        return check_revision(wanted)
    except ValueError as err:
        raise AdapterError(f"adapter reference {_shown(reference)}: {err}") from err


def _local(reference: str, path: Path, revision: str | None, base: str | None) -> AdapterSource:
    """A reference that is an existing path: a folder or an ONNX file."""
    if revision is not None:
        raise AdapterError(f"{_shown(reference)} is a local path: a revision applies to Hub references only")
    if path.is_dir():
        config = read_config(path)
        config.check_base(base, reference)
        if path.resolve() == Path(DEFAULT_ADAPTER).resolve():  # the package's own files, wherever it is
            return AdapterSource(
                reference, "bundled", path, config, "the bundled offline model", DEFAULT_NAME
            )
        return AdapterSource(reference, "folder", path, config, str(path), str(path.resolve()))
    if path.suffix.lower() != ".onnx":
        raise AdapterError(f"{_shown(reference)} is a file, neither an adapter folder nor an .onnx file")
    from geoadapters.inference.onnx_metadata import read_onnx_metadata

    config, _, _ = read_onnx_metadata(path)
    config.check_base(base, reference)
    return AdapterSource(reference, "onnx", path, config, str(path), str(path.resolve()))


def _published(
    reference: str, model: PublishedModel, revision: str | None, base: str | None
) -> AdapterSource:
    from geoadapters.errors import needs_torch

    with needs_torch(f"converting the published fine-tune {model.name} (PyTorch)"):
        from geoadapters.convert.published import converted_folder  # torch: for this kind only

    try:
        folder = converted_folder(model, revision=revision)
    except WeightsNotFoundError as err:
        raise WeightsNotFoundError(
            f"adapter reference {_shown(reference)} is the published fine-tune {model.repo_id}, which "
            f"cannot be had: {err}"
        ) from err
    config = read_config(folder)
    config.check_base(base, reference)
    commit = folder.name  # converted folders are named after the commit (`converted_folder`)
    return AdapterSource(
        reference, "published", folder, config, f"{model.repo_id}@{commit}", f"{model.name}@{commit}"
    )


def _hub(reference: str, repo_id: str, revision: str | None, base: str | None, tried: str) -> AdapterSource:
    try:
        check_repo_id(repo_id)
    except ValueError as err:
        raise AdapterError(f"adapter reference {_shown(reference)}: {err}") from err
    from geoadapters.hub.transport import download_files  # huggingface_hub: 0.3 s, for Hub references only

    try:
        files = download_files(repo_id, [CONFIG, WEIGHTS], revision=revision, optional=_OPTIONAL)
    except HubUnreachableError as err:
        raise HubUnreachableError(
            f"adapter reference {_shown(reference)} resolves to nothing here: {tried}; the Hub repository "
            f"{repo_id} is not in the local cache, and the Hub cannot be reached to see whether it is "
            "published (offline or no network)"
        ) from err
    except WeightsNotFoundError as err:
        raise WeightsNotFoundError(
            f"adapter reference {_shown(reference)} resolves to nothing: {tried}; the Hub repository "
            f"{repo_id}: {err}"
        ) from err
    folder = files[CONFIG].parent
    config = read_config(folder)
    config.check_base(base, reference)
    commit = folder.name  # huggingface_hub's cache layout: snapshots/<commit>/<file>
    return AdapterSource(reference, "hub", folder, config, f"{repo_id}@{commit}", f"{repo_id}@{commit}")


def resolve_adapter(
    reference: str | Path, base: str | None = None, *, revision: str | None = None
) -> AdapterSource:
    """Resolve an adapter reference by the module's rules; download or convert it when it is not local.

    Args:
        reference: A folder, an ``.onnx`` file, the bundled model's or a published fine-tune's name,
            ``<dataset>-<method>`` (on `base`), or ``org/name``; names may end in ``@revision``.
        base: Catalog name of the base the adapter must be for; None accepts the one it names (short
            names need it).
        revision: Hub revision, overriding an ``@revision`` in the reference.

    Raises:
        UnknownNameError: `base` is not in the catalog.
        AdapterError: The reference has none of the shapes, is a short name without its base, names
            a file that is no adapter, is incomplete or invalid, or is for another base than `base`.
        WeightsNotFoundError: It names a Hub repository (or a published fine-tune) that is neither
            cached nor downloadable; the message says what was tried.
        CheckpointError: An ``.onnx`` file that is no readable model with geoadapters metadata.
    """
    text = str(reference)
    if not text.strip():
        raise AdapterError(f"the adapter reference is empty: give {_SHAPES}")
    if base is not None:
        get_base(base)
    path = Path(text).expanduser()
    name, _, pinned = text.partition("@")
    try:
        exists = path.exists()
    except OSError:  # a name no file system holds (too long, say): no local path
        exists = False
    if exists:
        return _local(text, path, revision, base)
    wanted = _revision(text, pinned, revision)
    if path.suffix.lower() == ".onnx":
        raise WeightsNotFoundError(f"{_shown(text)}: no such ONNX file")
    if name == DEFAULT_NAME and wanted is None:
        return _local(text, Path(DEFAULT_ADAPTER), None, base)
    published = find_published(name, base)
    if published is not None:
        return _published(text, published, wanted, base)
    local = "no local folder or .onnx file of that name"
    if _SHORT_NAME.fullmatch(name) and name.isascii():
        if base is None:
            raise AdapterError(
                f"{_shown(text)} is a short adapter name (<dataset>-<method>): give the base model it is "
                "for, or a Hub id org/name"
            )
        tried = f"{local}, no bundled or published adapter of that name on {base}"
        return _hub(text, f"{adapter_org()}/{base}-{name}", wanted, base, tried)
    if _HUB_ID.fullmatch(name) and name.isascii():
        return _hub(text, name, wanted, base, local)
    raise AdapterError(
        f"adapter reference {_shown(text)} resolves to nothing: {local}, and it is neither a Hub id "
        "(org/name[@revision]) nor a short name (<dataset>-<method>)"
    )
