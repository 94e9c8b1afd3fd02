"""`AdapterConfig`: the contents of ``geoadapter.json``, the machine-readable half of an adapter.

One adapter = one folder = one Hub repository. This file says which base model (name, weights,
revision, architecture overrides) the adapter was trained on, which method and head with which
settings, the classes, the input contract (bands, scaling, normalisation, nodata), how to tile
scenes, metrics and provenance. It is versioned by ``format_version``; an unknown key is an error that
names it and the version of geoadapters that wrote the file.
"""

import dataclasses
import json
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

__all__ = ["FORMAT_VERSION", "AdapterConfig", "BaseRef", "Inference", "Padding"]

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
    inference: Inference = field(default_factory=Inference)
    padding: Padding = field(default_factory=Padding)
    name: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if len(self.classes) < 1:
            raise ValueError("an adapter needs at least one class")

    @property
    def task(self) -> str:
        """``segmentation`` (per-pixel classes) or ``multilabel`` (classes per image), from the head."""
        return self.head.task

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; nested settings as written in ``geoadapter.json``."""
        out: dict[str, Any] = {"format_version": self.format_version, "name": self.name}
        out["base"] = self.base.to_dict()
        out["method"] = {"name": self.method.name, "settings": self.method.to_dict()}
        out["head"] = {"name": self.head.name, "settings": self.head.to_dict()}
        out["input"] = self.input.to_dict()
        out["inference"] = self.inference.to_dict()
        out["padding"] = self.padding.to_dict()
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
            unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)} - {"task"})
            if unknown:
                raise TypeError(f"unknown key(s) {', '.join(unknown)}")
            head = head_settings(**_component(data["head"], "head"))
            if data.get("task", head.task) != head.task:
                raise ValueError(f"task {data['task']!r} does not match the {head.name} head ({head.task})")
            return cls(
                base=BaseRef.from_dict(data["base"]),
                method=method_settings(**_component(data["method"], "method")),
                head=head,
                classes=tuple(data["classes"]),
                input=InputSpec.from_dict(data["input"]),
                inference=Inference.from_dict(data.get("inference", {})),
                padding=Padding.from_dict(data.get("padding", {})),
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
