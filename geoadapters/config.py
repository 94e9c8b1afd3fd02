"""`AdapterConfig`: the contents of ``geoadapter.json``, the machine-readable half of an adapter.

One adapter = one folder = one Hub repository. This file says which base model (name, weights,
revision, architecture overrides) the adapter was trained on, which method and head with which
settings, the classes, the input contract (bands, scaling, normalisation, nodata), how to tile
scenes, metrics and provenance. It is versioned by ``format_version``; an unknown key is an error that
names it and the version of geoadapters that wrote the file.

The file comes from a stranger: every section is validated when it is read (types, ranges, names),
and what it may declare is bounded (architectures bound their own fields, `geoadapters.specs.bounded`;
`MAX_CLASSES`, `MAX_TILE`), so that a 1 kB file cannot make the process allocate without limit before
its weights are compared with it.
The base revision it records is provenance only: the base weights come from the catalog's pinned
revision or from one the user passes (`geoadapters.load`).
"""

import dataclasses
import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoadapters._serde import Settings, check_type, finite, read_json
from geoadapters.catalog import get_base
from geoadapters.errors import AdapterError
from geoadapters.heads.registry import head_settings
from geoadapters.heads.settings import HeadSettings
from geoadapters.methods.registry import method_settings
from geoadapters.methods.settings import MethodSettings
from geoadapters.specs import BaseSpec, InputSpec, check_repo_id, check_revision

__all__ = [
    "FORMAT_VERSION",
    "MAX_CLASSES",
    "MAX_TILE",
    "AdapterConfig",
    "BaseRef",
    "Inference",
    "Padding",
    "memory_budget",
]

FORMAT_VERSION = 1
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")

MAX_CLASSES = 1024
MAX_TILE = 4096
_MAX_BATCH = 1024
_MAX_NAME = 256


def memory_budget(gigabytes: float | None = None) -> int:
    """Bytes that one model, or one scene's buffers, may take.

    `gigabytes`, else ``$GEOADAPTERS_MEMORY_GB``, else 80 % of the machine's memory.

    Raises:
        ValueError: A budget that is no finite positive number.
    """
    if gigabytes is None and os.environ.get("GEOADAPTERS_MEMORY_GB"):
        try:
            gigabytes = float(os.environ["GEOADAPTERS_MEMORY_GB"])
        except ValueError as err:
            raise ValueError(f"GEOADAPTERS_MEMORY_GB must be a number of GB, got {err}") from err
    if gigabytes is None:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    finite("the memory budget", gigabytes, positive=True)
    return int(gigabytes * 2**30)


def _check_overrides(name: str, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides that are no field of the base's architecture, of the wrong type or out of bounds."""
    arch = get_base(name).arch
    hints = typing.get_type_hints(type(arch))
    fields = {f.name for f in dataclasses.fields(arch) if f.init} - set(getattr(arch, "fixed", ()))
    unknown = sorted(map(str, set(overrides) - fields))
    if unknown:
        raise TypeError(
            f"base {name} has no overridable setting {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(fields))}"
        )
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    for key, value in values.items():
        check_type(f"base override {key}", value, hints[key])
    try:
        dataclasses.replace(arch, **values)  # the architecture bounds its own fields
    except ValueError as err:
        raise ValueError(f"base overrides: {err}") from err


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

    def __post_init__(self) -> None:
        check_repo_id(self.repo_id)
        check_revision(self.revision)
        _check_overrides(self.name, self.overrides)


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
        if not 1 <= self.tile_size <= MAX_TILE or not 1 <= self.batch_size <= _MAX_BATCH:
            raise ValueError(
                f"tile_size must be in [1, {MAX_TILE}] and batch_size in [1, {_MAX_BATCH}], "
                f"got {self.tile_size}, {self.batch_size}"
            )
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ValueError(
                f"overlap must be between 0 and half the tile size ({self.tile_size // 2}), "
                f"got {self.overlap}"
            )


_PAD_MODES = ("replicate", "reflect")


@dataclass(frozen=True)
class Padding(Settings):
    """How the model pads an input whose sides are no multiple of what the encoder needs.

    The default is geoadapters' own (replicate at the bottom and right); models imported from TerraTorch
    record its `PixelWiseModel` behaviour: reflect to a multiple of twice the patch, split between both
    sides, and the logits centre-cropped (``pad_images``/``center_crop`` in terratorch/models/utils.py,
    torchgeo/terratorch@f34a1c2c).

    Attributes:
        mode: ``replicate`` or ``reflect`` (`torch.nn.functional.pad` modes).
        multiple: Pad height and width to a multiple of this; None takes the encoder's input multiple.
        centred: Split the padding between both sides (the top and left get the smaller half) instead of
            padding the bottom and right only.
    """

    mode: str = "replicate"
    multiple: int | None = None
    centred: bool = False

    def __post_init__(self) -> None:
        if self.mode not in _PAD_MODES:
            raise ValueError(f"padding mode must be one of {', '.join(_PAD_MODES)}, got {self.mode!r}")
        if self.multiple is not None and (
            not isinstance(self.multiple, int) or isinstance(self.multiple, bool) or self.multiple < 1
        ):
            raise ValueError(f"padding multiple must be a positive integer or None, got {self.multiple!r}")
        if not isinstance(self.centred, bool):
            raise ValueError(f"padding centred must be true or false, got {self.centred!r}")


def _classes(data: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, colours) of the ``classes`` list: names, or ``{"name", "color"}`` objects (not mixed)."""
    if not isinstance(data, list | tuple):
        raise ValueError(f"classes must be a list, got {data!r}")
    if all(isinstance(c, str) for c in data):
        return tuple(data), ()
    if all(
        isinstance(c, Mapping) and set(c) == {"name", "color"} and all(isinstance(v, str) for v in c.values())
        for c in data
    ):
        return tuple(c["name"] for c in data), tuple(c["color"] for c in data)
    raise ValueError('classes must all be names, or all {"name": ..., "color": "#rrggbb"} objects')


def _component(data: Any, what: str) -> dict[str, Any]:
    """``{"name": ..., "settings": {...}}`` of a method or head as keyword arguments of its settings."""
    if not isinstance(data, Mapping) or set(data) - {"name", "settings"} or "name" not in data:
        raise ValueError(f"{what} must be an object with a name and settings, got {data!r:.100}")
    settings = data.get("settings", {})
    if not isinstance(settings, Mapping) or not isinstance(data["name"], str):
        raise ValueError(f"{what} needs a name (a string) and settings (an object), got {data!r:.100}")
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
        padding: How inputs are padded to what the encoder needs.
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
    padding: Padding = field(default_factory=Padding)
    name: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        check_type("classes", self.classes, tuple[str, ...])
        if not 1 <= len(self.classes) <= MAX_CLASSES:
            raise ValueError(f"an adapter has 1 to {MAX_CLASSES} classes, got {len(self.classes):,}")
        if any(len(c) > _MAX_NAME for c in self.classes) or len(self.name) > _MAX_NAME:
            raise ValueError(f"names of the adapter and its classes have at most {_MAX_NAME} characters")
        check_type("name", self.name, str)
        check_type("metrics", self.metrics, Mapping[str, Any])
        check_type("provenance", self.provenance, Mapping[str, Any])
        if self.colors and len(self.colors) != len(self.classes):
            raise ValueError(f"{len(self.colors)} colours for {len(self.classes)} classes")
        bad = [c for c in self.colors if not (isinstance(c, str) and _COLOR.fullmatch(c))]
        if bad:
            raise ValueError(f"class colours must be #rrggbb, got {', '.join(map(repr, bad[:5]))}")

    @property
    def task(self) -> str:
        """``segmentation`` (per-pixel classes) or ``multilabel`` (classes per image), from the head."""
        return self.head.task

    def check_base(self, base: str | None, reference: str | Path) -> None:
        """Check that this adapter is for `base` (None: any).

        Raises:
            AdapterError: It was made for another base.
        """
        if base is not None and self.base.name != base:
            raise AdapterError(
                f"adapter {reference} was made for {self.base.name}, not {base}; "
                f"leave out the base or give {self.base.name}"
            )

    def unloadable(self, *, carries_weights: bool = False) -> str | None:
        """Why this adapter cannot run on the official base weights, or None if it can.

        `carries_weights`: its file holds every weight (an ONNX file), so none are loaded.
        """
        if self.base.pretrained or self.method.carries_base_weights or carries_weights:
            return None
        return (
            f"it was trained on randomly initialised {self.base.name} weights (pretrained=False), which it "
            f"does not carry: on the official weights its {self.method.name} tensors would compute "
            "something else"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; nested settings as written in ``geoadapter.json``."""
        out: dict[str, Any] = {"format_version": self.format_version, "name": self.name}
        out["base"] = self.base.to_dict()
        out["method"] = {"name": self.method.name, "settings": self.method.to_dict()}
        out["head"] = {"name": self.head.name, "settings": self.head.to_dict()}
        out["input"] = self.input.to_dict()
        out["inference"] = self.inference.to_dict()
        out["padding"] = self.padding.to_dict()
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
        provenance = data.get("provenance")
        writer = provenance.get("geoadapters_version") if isinstance(provenance, Mapping) else None
        writer = str(writer)[:40] if writer is not None else "an unknown version"
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
            raise AdapterError(
                f"geoadapter.json has format_version {str(version)[:40]!r}, written by geoadapters {writer}; "
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
                padding=Padding.from_dict(data.get("padding", {})),
                name=data.get("name", ""),
                metrics=data.get("metrics", {}),
                provenance=data.get("provenance", {}),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, LookupError, AttributeError) as err:
            detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
            detail = detail if len(detail) <= 300 else detail[:297] + "..."
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
            data = read_json(path)
        except FileNotFoundError as err:
            raise AdapterError(f"{path} is missing: an adapter folder needs a geoadapter.json") from err
        except (OSError, ValueError) as err:
            raise AdapterError(f"{path} is not readable JSON: {err}") from err
        if not isinstance(data, dict):
            raise AdapterError(f"{path} holds a JSON {type(data).__name__}, not an object")
        return cls.from_dict(data)

    def to_json(self) -> str:
        """The text of ``geoadapter.json``."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @property
    def frames(self) -> int:
        """Frames (dates) the model takes per input: its base's ``num_frames``, 1 for single-date models.

        Exactly that many: the heads fold the frames' features into channels, built for that count.
        """
        return int(getattr(self.base_spec().arch, "num_frames", 1))

    @property
    def input_multiple(self) -> int:
        """The base's patch grid: input sides are multiples of it, and tiles start on it."""
        return self.base_spec().arch.input_multiple

    def base_spec(self) -> BaseSpec:
        """The catalog entry of the base (with its weights) and this adapter's overrides and bands."""
        return get_base(self.base.name).with_overrides(bands=self.input.bands, **self.base.overrides)
