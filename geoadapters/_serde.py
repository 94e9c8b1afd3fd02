"""`Settings`: the base of the frozen settings dataclasses of adapter methods and heads.

Settings round-trip through JSON (``geoadapter.json``): tuples are written as lists and read back as
tuples, and an unknown key is an error that names the valid ones, never silently dropped.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

__all__ = ["Settings"]

_S = TypeVar("_S", bound="Settings")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_from_json(v) for v in value)
    return value


class Settings:
    """Mixin for frozen dataclasses of settings; subclasses validate in ``__post_init__``."""

    # Set by @dataclass on each subclass; declared so that `dataclasses.fields` accepts the mixin.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the settings this class takes."""
        return [f.name for f in dataclasses.fields(cls) if f.init]

    @classmethod
    def from_dict(cls: type[_S], data: Mapping[str, Any]) -> _S:
        """Build from a dict such as `to_dict` writes.

        Raises:
            TypeError: A key that is no setting of this class.
        """
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            valid = ", ".join(cls.field_names()) or "none"
            raise TypeError(f"{cls.__name__} has no setting {', '.join(unknown)}; valid settings: {valid}")
        return cls(**{k: _from_json(v) for k, v in data.items()})
