"""`AdapterConfig`: the contents of ``geoadapter.json``, the machine-readable half of an adapter.

One adapter = one folder = one Hub repository. This file says which base model (name, weights,
revision, architecture overrides) the adapter was trained on, which method and head with which
settings, the classes, the input contract (bands, scaling, normalisation, nodata), how to tile
scenes, metrics and provenance. It is versioned by ``format_version``; an unknown key is an error that
names it and the version of geoadapters that wrote the file.
"""

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoadapters._serde import Settings
from geoadapters.catalog import get_base
from geoadapters.errors import AdapterError
from geoadapters.heads.settings import HeadSettings, head_settings
from geoadapters.methods.settings import MethodSettings, method_settings
from geoadapters.specs import BaseSpec, InputSpec

__all__ = ["FORMAT_VERSION", "AdapterConfig", "BaseRef", "Inference"]

FORMAT_VERSION = 1
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class BaseRef(Settings):
    """The base model an adapter belongs to.

    Attributes:
        name: Catalog name (``prithvi-300``).
        repo_id: Hub repository of the official weights.
        filename: Weights file in that repository.
        revision: Revision of the weights the adapter was trained with.
        overrides: Architecture fields that differ from the catalog entry (e.g. ``num_frames``).
        pretrained: False when the adapter was trained on randomly initialised base weights: then it
            only works with the weights it carries (method ``full``), never on the official ones.
    """

    name: str
    repo_id: str
    filename: str
    revision: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    pretrained: bool = True

    @classmethod
    def from_spec(cls, spec: BaseSpec, *, pretrained: bool = True) -> "BaseRef":
        """The reference to the base an encoder was built from (`pretrained`: with the official weights)."""
        catalog = get_base(spec.name).arch
        overrides = {
            f.name: getattr(spec.arch, f.name)
            for f in dataclasses.fields(spec.arch)
            if f.init and getattr(spec.arch, f.name) != getattr(catalog, f.name)
        }
        weights = spec.weights
        return cls(spec.name, weights.repo_id, weights.filename, weights.revision, overrides, pretrained)


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
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ValueError(
                f"overlap must be between 0 and half the tile size ({self.tile_size // 2}), "
                f"got {self.overlap}"
            )


def _classes(data: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, colours) of the ``classes`` list: names, or ``{"name", "color"}`` objects (not mixed)."""
    if not isinstance(data, list | tuple):
        raise ValueError(f"classes must be a list, got {data!r}")
    if all(isinstance(c, str) for c in data):
        return tuple(data), ()
    if all(isinstance(c, Mapping) and set(c) == {"name", "color"} for c in data):
        return tuple(str(c["name"]) for c in data), tuple(str(c["color"]) for c in data)
    raise ValueError('classes must all be names, or all {"name": ..., "color": "#rrggbb"} objects')


def _component(data: Any, what: str) -> dict[str, Any]:
    """``{"name": ..., "settings": {...}}`` of a method or head as keyword arguments of its settings."""
    if not isinstance(data, Mapping) or set(data) - {"name", "settings"} or "name" not in data:
        raise ValueError(f"{what} must be an object with a name and settings, got {data!r}")
    settings = data.get("settings", {})
    if not isinstance(settings, Mapping):
        raise ValueError(f"{what} settings must be an object, got {settings!r}")
    return {"name": data["name"], **settings}


@dataclass(frozen=True)
class AdapterConfig:
    """Everything needed to rebuild an adapted model and use it correctly.

    Attributes:
        base: The base model and weights.
        method: Adapter method and its settings (validated when the file is read).
        head: Task head and its settings (validated when the file is read).
        classes: Class names, in output order.
        colors: Display colour of each class (``#rrggbb``), or empty for the default palette. In
            ``geoadapter.json`` a class is a name, or ``{"name": ..., "color": "#rrggbb"}``.
        input: Bands, scaling, normalisation, nodata and GSD of the input.
        inference: Tiling for scenes.
        name: Short name ``<dataset>-<method>`` (empty for unpublished adapters).
        metrics: Evaluation results, e.g. ``{"test": {"mIoU": 93.3}}``.
        provenance: Dataset, splits, recipe, software versions, licence.
        format_version: Version of this file format.
    """

    base: BaseRef
    method: MethodSettings
    head: HeadSettings
    classes: tuple[str, ...]
    input: InputSpec
    colors: tuple[str, ...] = ()
    inference: Inference = field(default_factory=Inference)
    name: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if len(self.classes) < 1:
            raise ValueError("an adapter needs at least one class")
        if self.colors and len(self.colors) != len(self.classes):
            raise ValueError(f"{len(self.colors)} colours for {len(self.classes)} classes")
        bad = [c for c in self.colors if not _COLOR.fullmatch(c)]
        if bad:
            raise ValueError(f"class colours must be #rrggbb, got {', '.join(map(repr, bad))}")

    @property
    def task(self) -> str:
        """``segmentation`` (per-pixel classes) or ``multilabel`` (classes per image), from the head."""
        return self.head.task

    def check_base(self, base: str | None, reference: str | Path, *, carries_weights: bool = False) -> None:
        """Check that this adapter can be loaded onto `base` (None: the base it names) with its weights.

        `carries_weights`: the reference holds every weight (an ONNX file), so none are loaded.

        Raises:
            AdapterError: It was made for another base, or trained on random base weights that it does
                not carry, so no official weights can stand in for them.
        """
        if base is not None and self.base.name != base:
            raise AdapterError(
                f"adapter {reference} was made for {self.base.name}, not {base}; "
                f"leave out the base (--model) or give {self.base.name}"
            )
        if not (self.base.pretrained or self.method.carries_base_weights or carries_weights):
            raise AdapterError(
                f"adapter {reference} was trained on randomly initialised {self.base.name} weights "
                f"(pretrained=False), which it does not carry: on the official weights its "
                f"{self.method.name} tensors would compute something else, so it is not loaded"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; nested settings as written in ``geoadapter.json``."""
        out: dict[str, Any] = {"format_version": self.format_version, "name": self.name}
        out["base"] = self.base.to_dict()
        out["method"] = {"name": self.method.name, "settings": self.method.to_dict()}
        out["head"] = {"name": self.head.name, "settings": self.head.to_dict()}
        out["input"] = self.input.to_dict()
        out["inference"] = self.inference.to_dict()
        classes: list[Any] = list(self.classes)
        if self.colors:
            classes = [{"name": n, "color": c} for n, c in zip(self.classes, self.colors, strict=True)]
        out |= {"task": self.task, "classes": classes}
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
            unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)} - {"task"})
            if unknown:
                raise TypeError(f"unknown key(s) {', '.join(unknown)}")
            head = head_settings(**_component(data["head"], "head"))
            if data.get("task", head.task) != head.task:
                raise ValueError(f"task {data['task']!r} does not match the {head.name} head ({head.task})")
            classes, colors = _classes(data["classes"])
            return cls(
                base=BaseRef.from_dict(data["base"]),
                method=method_settings(**_component(data["method"], "method")),
                head=head,
                classes=classes,
                colors=colors,
                input=InputSpec.from_dict(data["input"]),
                inference=Inference.from_dict(data.get("inference", {})),
                name=data.get("name", ""),
                metrics=data.get("metrics", {}),
                provenance=data.get("provenance", {}),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, LookupError) as err:
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

    def to_json(self) -> str:
        """The text of ``geoadapter.json``."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def base_spec(self) -> BaseSpec:
        """The catalog entry of the base with this adapter's overrides, bands and weights revision."""
        return get_base(self.base.name).with_overrides(
            revision=self.base.revision, bands=self.input.bands, **self.base.overrides
        )
