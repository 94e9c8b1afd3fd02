"""`AdapterConfig`: the contents of ``geoadapter.json``, the machine-readable half of an adapter.

One adapter = one folder = one Hub repository. This file says which base model (name, weights,
revision, architecture overrides) the adapter was trained on, which method and head with which
settings, the classes, the input contract (bands, scaling, normalisation, nodata), how to tile
scenes, metrics and provenance. It is versioned by ``format_version``; an unknown key is an error that
names it and the version of geoadapters that wrote the file.
"""

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoadapters.catalog import get_base
from geoadapters.errors import AdapterError
from geoadapters.settings import Settings
from geoadapters.specs import BaseSpec, InputSpec

__all__ = ["FORMAT_VERSION", "AdapterConfig", "BaseRef", "Component", "Inference"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class BaseRef(Settings):
    """The base model an adapter belongs to.

    Attributes:
        name: Catalog name (``prithvi-300``).
        repo_id: Hub repository of the official weights.
        filename: Weights file in that repository.
        revision: Revision of the weights the adapter was trained with.
        overrides: Architecture fields that differ from the catalog entry (e.g. ``num_frames``).
    """

    name: str
    repo_id: str
    filename: str
    revision: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: BaseSpec) -> "BaseRef":
        """The reference to the base an encoder was built from."""
        catalog = get_base(spec.name).arch
        overrides = {
            f.name: getattr(spec.arch, f.name)
            for f in dataclasses.fields(spec.arch)
            if f.init and getattr(spec.arch, f.name) != getattr(catalog, f.name)
        }
        return cls(spec.name, spec.weights.repo_id, spec.weights.filename, spec.weights.revision, overrides)


@dataclass(frozen=True)
class Component(Settings):
    """A method or head: its registry name and its settings."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inference(Settings):
    """How to run the adapter over scenes.

    Attributes:
        tile_size: Side of the square tiles in pixels.
        overlap: Pixels shared by neighbouring tiles (blended, so borders leave no seams).
        batch_size: Tiles per forward pass.
    """

    tile_size: int = 224
    overlap: int = 32
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.tile_size < 1 or self.batch_size < 1:
            raise ValueError(
                f"tile_size and batch_size must be positive, got {self.tile_size}, {self.batch_size}"
            )
        if not 0 <= self.overlap < self.tile_size:
            raise ValueError(f"overlap must be in [0, tile_size), got {self.overlap}")


@dataclass(frozen=True)
class AdapterConfig:
    """Everything needed to rebuild an adapted model and use it correctly.

    Attributes:
        base: The base model and weights.
        method: Adapter method and settings.
        head: Task head and settings.
        task: ``segmentation`` (per-pixel classes) or ``multilabel`` (classes per image).
        classes: Class names, in output order.
        input: Bands, scaling, normalisation, nodata and GSD of the input.
        inference: Tiling for scenes.
        name: Short name ``<dataset>-<method>`` (empty for unpublished adapters).
        metrics: Evaluation results, e.g. ``{"test": {"mIoU": 93.3}}``.
        provenance: Dataset, splits, recipe, software versions, licence.
        format_version: Version of this file format.
    """

    base: BaseRef
    method: Component
    head: Component
    task: str
    classes: tuple[str, ...]
    input: InputSpec
    inference: Inference = field(default_factory=Inference)
    name: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.task not in ("segmentation", "multilabel"):
            raise ValueError(f"task must be segmentation or multilabel, got {self.task!r}")
        if len(self.classes) < 1:
            raise ValueError("an adapter needs at least one class")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; nested settings as written in ``geoadapter.json``."""
        out: dict[str, Any] = {"format_version": self.format_version, "name": self.name}
        for key in ("base", "method", "head", "input", "inference"):
            out[key] = getattr(self, key).to_dict()
        out |= {"task": self.task, "classes": list(self.classes)}
        out |= {"metrics": dict(self.metrics), "provenance": dict(self.provenance)}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AdapterConfig":
        """Parse a ``geoadapter.json`` dict.

        Raises:
            AdapterError: A newer format, a missing or unknown key, or an invalid value.
        """
        writer = data.get("provenance", {}).get("geoadapters_version", "an unknown version")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise AdapterError(
                f"geoadapter.json has format_version {version!r}, written by geoadapters {writer}; "
                f"this geoadapters reads versions up to {FORMAT_VERSION}: upgrade geoadapters"
            )
        try:
            unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
            if unknown:
                raise TypeError(f"unknown key(s) {', '.join(unknown)}")
            return cls(
                base=BaseRef.from_dict(data["base"]),
                method=Component.from_dict(data["method"]),
                head=Component.from_dict(data["head"]),
                task=data["task"],
                classes=tuple(data["classes"]),
                input=InputSpec.from_dict(data["input"]),
                inference=Inference.from_dict(data.get("inference", {})),
                name=data.get("name", ""),
                metrics=data.get("metrics", {}),
                provenance=data.get("provenance", {}),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as err:
            detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
            raise AdapterError(
                f"geoadapter.json (written by geoadapters {writer}) is invalid: {detail}"
            ) from err

    @classmethod
    def read(cls, path: str | Path) -> "AdapterConfig":
        """Read ``geoadapter.json``.

        Raises:
            AdapterError: The file is missing, not JSON, or not a valid config.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise AdapterError(f"{path} is missing: an adapter folder needs a geoadapter.json") from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise AdapterError(f"{path} is not readable JSON: {err}") from err
        if not isinstance(data, dict):
            raise AdapterError(f"{path} holds a JSON {type(data).__name__}, not an object")
        return cls.from_dict(data)

    def write(self, path: str | Path) -> None:
        """Write ``geoadapter.json`` atomically (a temporary file renamed into place)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def base_spec(self) -> BaseSpec:
        """The catalog entry of the base with this adapter's overrides, bands and weights revision."""
        return get_base(self.base.name).with_overrides(
            revision=self.base.revision, bands=self.input.bands, **self.base.overrides
        )
