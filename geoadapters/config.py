"""`AdapterConfig`: the contents of ``geoadapter.json``, the machine-readable half of an adapter.

One adapter = one folder = one Hub repository. This file says which base model (name, weights,
revision, architecture overrides) the adapter was trained on, which method and head with which
settings, the classes, the input contract (bands, scaling, normalisation, nodata), how to tile
scenes, metrics and provenance. It is versioned by ``format_version``; an unknown key is an error that
names it and the version of geoadapters that wrote the file.

The file comes from a stranger: one schema validates it when it is read, `AdapterFile` (strict,
extra keys refused, numbers finite and bounded: architectures bound their own fields, `MAX_CLASSES`,
`MAX_TILE`), so that a 1 kB file cannot make the process allocate without limit before its weights are
compared with it. `json_schema` is its JSON Schema (shipped as ``geoadapter.schema.json``).
The base revision it records is provenance only: the base weights come from the catalog's pinned
revision or from one the user passes (`geoadapters.load`).
"""

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, InstanceOf, JsonValue, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from geoadapters._serde import (
    COLOR_PATTERN,
    SCHEMA,
    Settings,
    explain,
    read_json,
    schema_of,
    validate_json,
)
from geoadapters.catalog import get_base
from geoadapters.errors import AdapterError, OptionError
from geoadapters.heads.registry import head_settings, list_heads
from geoadapters.heads.settings import HeadSettings
from geoadapters.methods.registry import list_methods, method_settings
from geoadapters.methods.settings import MethodSettings
from geoadapters.specs import BaseSpec, InputSpec, check_repo_id, check_revision

__all__ = [
    "FORMAT_VERSION",
    "MAX_CLASSES",
    "MAX_TILE",
    "AdapterConfig",
    "AdapterFile",
    "BaseRef",
    "Inference",
    "Padding",
    "json_schema",
    "memory_budget",
]

FORMAT_VERSION = 1
_C = TypeVar("_C")

MAX_CLASSES = 1024
MAX_TILE = 4096
_MAX_BATCH = 1024
_MAX_NAME = 256
MAX_MEMORY_GB = 2**20  # a budget above a pebibyte is a typo, and would overflow as bytes

_Name = Annotated[str, Field(max_length=_MAX_NAME)]
ClassNames = Annotated[tuple[_Name, ...], Field(min_length=1, max_length=MAX_CLASSES)]
"""What a file may declare as its classes: 1 to `MAX_CLASSES` names (a class map's tags, ...)."""
_Color = Annotated[str, Field(pattern=COLOR_PATTERN)]
_Json = dict[Annotated[str, Field(max_length=_MAX_NAME)], JsonValue]


def memory_budget(gigabytes: float | None = None) -> int:
    """Bytes that one model, or one scene's buffers, may take.

    `gigabytes`, else ``$GEOADAPTERS_MEMORY_GB``, else 80 % of the machine's memory.

    Raises:
        OptionError: A budget that is no finite positive number of at most `MAX_MEMORY_GB`.
    """
    where = "`memory_budget`"
    if gigabytes is None and os.environ.get("GEOADAPTERS_MEMORY_GB"):
        where, text = "GEOADAPTERS_MEMORY_GB", os.environ["GEOADAPTERS_MEMORY_GB"]
        try:
            gigabytes = float(text)
        except ValueError:
            raise OptionError(f"{where} must be a number of GB, got {text[:20]!r}") from None
    if gigabytes is None:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    if not (math.isfinite(gigabytes) and 0 < gigabytes <= MAX_MEMORY_GB):
        bound = f"above 0 and at most {MAX_MEMORY_GB:,}"
        raise OptionError(f"{where} must be a number of GB {bound}, got {gigabytes}")
    return int(gigabytes * 2**30)


def _check_overrides(name: str, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides that are no field of the base's architecture, of the wrong type or out of bounds."""
    arch = get_base(name).arch
    fields = {f.name for f in dataclasses.fields(arch) if f.init} - set(getattr(arch, "fixed", ()))
    unknown = sorted(map(str, set(overrides) - fields))
    if unknown:
        raise ValueError(
            f"base {name} has no overridable setting {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(fields))}"
        )
    try:  # the architecture's schema bounds its own fields
        validate_json(type(arch), Settings.to_dict(arch) | dict(overrides))  # type: ignore[arg-type]
    except ValueError as err:
        raise ValueError(f"base overrides: {err}") from err


@dataclass(frozen=True, config=SCHEMA)
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

    name: _Name
    repo_id: Annotated[str, Field(max_length=200)]
    filename: Annotated[str, Field(max_length=1000)]
    revision: Annotated[str, Field(max_length=100)]
    overrides: dict[Annotated[str, Field(max_length=100)], Any] = field(default_factory=dict)
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


@dataclass(frozen=True, config=SCHEMA)
class Inference(Settings):
    """How to run the adapter over scenes.

    Attributes:
        tile_size: Side of the square tiles in pixels.
        overlap: Pixels shared by neighbouring tiles (blended). 0 by default: tiles start on the
            model's patch grid, where overlap bought back no measurable seam (``benchmarks/seams.py``).
        batch_size: Tiles per forward pass.
    """

    tile_size: Annotated[int, Field(ge=1, le=MAX_TILE)] = 224
    overlap: Annotated[int, Field(ge=0, le=MAX_TILE // 2)] = 0
    batch_size: Annotated[int, Field(ge=1, le=_MAX_BATCH)] = 8

    def __post_init__(self) -> None:
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ValueError(
                f"overlap must be between 0 and half the tile size ({self.tile_size // 2}), "
                f"got {self.overlap}"
            )


@dataclass(frozen=True, config=SCHEMA)
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

    mode: Literal["replicate", "reflect"] = "replicate"
    multiple: Annotated[int, Field(ge=1, le=MAX_TILE)] | None = None
    centred: bool = False


class _Strict(BaseModel):
    model_config = SCHEMA | {"frozen": True}


class ClassEntry(_Strict):
    """A class of ``geoadapter.json`` with its display colour."""

    name: _Name
    color: _Color


class Component(_Strict):
    """A method or head of ``geoadapter.json``: its registered name and its settings."""

    name: Annotated[str, Field(max_length=100)]
    settings: dict[Annotated[str, Field(max_length=100)], JsonValue] = Field(default_factory=dict)


def _component(build: Callable[..., _C], what: str, component: Component) -> _C:
    """The settings of a method or head, errors naming it."""
    try:
        return build(component.name, **component.settings)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{what} {component.name}: {err}") from err


class AdapterFile(_Strict):
    """The schema of ``geoadapter.json`` as written: what `AdapterConfig.from_dict` reads.

    Method and head settings are validated by their registered settings classes (`json_schema` lists
    them); every other section by its schema dataclass.
    """

    format_version: Annotated[int, Field(ge=1, le=FORMAT_VERSION)]
    name: _Name = ""
    base: BaseRef
    method: Component
    head: Component
    task: Literal["segmentation", "multilabel"] | None = None
    classes: Annotated[list[_Name] | list[ClassEntry], Field(min_length=1, max_length=MAX_CLASSES)]
    input: InputSpec
    inference: Inference = Field(default_factory=Inference)
    padding: Padding = Field(default_factory=Padding)
    metrics: _Json = Field(default_factory=dict)
    provenance: _Json = Field(default_factory=dict)

    @field_validator("metrics", "provenance")
    @classmethod
    def _finite(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        """Numbers in free-form sections are finite too (JSON's NaN and Infinity are refused)."""
        stack: list[Any] = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"numbers must be finite, got {item}")
            stack.extend(item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
        return value


@dataclass(frozen=True, config=SCHEMA)
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
    method: InstanceOf[MethodSettings]
    head: InstanceOf[HeadSettings]
    classes: ClassNames
    input: InputSpec
    colors: tuple[_Color, ...] = ()
    inference: Inference = field(default_factory=Inference)
    padding: Padding = field(default_factory=Padding)
    name: _Name = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: Annotated[int, Field(ge=1, le=FORMAT_VERSION)] = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.colors and len(self.colors) != len(self.classes):
            raise ValueError(f"{len(self.colors)} colours for {len(self.classes)} classes")

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
            wire = AdapterFile.model_validate_json(json.dumps(data))
            head = _component(head_settings, "head", wire.head)
            if wire.task not in (None, head.task):
                raise ValueError(f"task {wire.task!r} does not match the {head.name} head ({head.task})")
            entries = wire.classes
            return cls(
                base=wire.base,
                method=_component(method_settings, "method", wire.method),
                head=head,
                classes=tuple(c.name if isinstance(c, ClassEntry) else c for c in entries),
                colors=tuple(c.color for c in entries if isinstance(c, ClassEntry)),
                input=wire.input,
                inference=wire.inference,
                padding=wire.padding,
                name=wire.name,
                metrics=wire.metrics,
                provenance=wire.provenance,
                format_version=version,
            )
        except ValidationError as err:
            detail = explain(err)
        except (TypeError, ValueError, LookupError, RecursionError) as err:
            detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise AdapterError(f"geoadapter.json (written by geoadapters {writer}) is invalid: {detail}")

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


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``geoadapter.json``, with the settings of every registered method and head."""
    schema = AdapterFile.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for key, kinds in (
        ("method", [type(method_settings(name)) for name in list_methods()]),
        ("head", [type(head_settings(name)) for name in list_heads()]),
    ):
        choices = []
        for kind in kinds:
            name = kind.name
            part = schema_of(kind)
            defs.update(part.pop("$defs", {}))
            choices.append(
                {
                    "type": "object",
                    "properties": {"name": {"const": name}, "settings": part},
                    "required": ["name"],
                    "additionalProperties": False,
                }
            )
        schema["properties"][key] = {"oneOf": choices}
    defs.pop("Component", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
