"""`Settings`: the base of the frozen settings dataclasses of adapter methods and heads; bounded JSON files.

Settings round-trip through JSON (``geoadapter.json``): tuples are written as lists and read back as
tuples, and an unknown key is an error that names the valid ones, never silently dropped. Values read
back are checked against the field types (a string where a list of names belongs is an error, not a
list of characters). JSON files come from strangers: `read_json` reads regular files only, up to a
size, and turns every failure into one `ValueError`.
"""

import dataclasses
import json
import math
import os
import stat
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

__all__ = ["Settings", "check_type", "finite", "read_json"]

_S = TypeVar("_S", bound="Settings")

# geoadapter.json and PEFT's adapter_config.json are a few kB; nothing legitimate comes close.
JSON_LIMIT = 1 << 20


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


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, h) for v, h in zip(value, args, strict=True))
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return isinstance(value, Mapping)
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_type(name: str, value: Any, hint: Any) -> None:
    """Refuse a `value` that is not of the annotated type `hint` (as read back from JSON).

    Raises:
        TypeError: Naming the setting, the type it needs and the value given.
    """
    if not _matches(value, hint):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        wanted = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        raise TypeError(f"{name} must be of type {wanted}, got {shown}")


def read_json(path: str | Path, limit: int = JSON_LIMIT) -> Any:
    """Parse a JSON file that must be a regular file of at most `limit` bytes.

    A symlink to a regular file is fine (the Hugging Face cache links snapshots to blobs); a FIFO,
    device or folder is refused without blocking or reading it.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: It is no regular file, too large, or not valid JSON (too deeply nested included).
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{path} is {info.st_size:,} bytes; a JSON file here holds at most {limit:,}")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit:,} bytes")
    try:
        return json.loads(data)
    except RecursionError as err:
        raise ValueError(f"{path} is nested too deeply to be a geoadapters JSON file") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: {err}") from err


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
        """Build from a dict such as `to_dict` writes, checking every value against its field's type.

        Raises:
            TypeError: Not a dict, a key that is no setting of this class, or a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} must be a JSON object, got {_to_json(data)!r:.80}")
        unknown = sorted(map(str, set(data) - set(cls.field_names())))
        if unknown:
            valid = ", ".join(cls.field_names()) or "none"
            raise TypeError(f"{cls.__name__} has no setting {', '.join(unknown)}; valid settings: {valid}")
        hints = typing.get_type_hints(cls)
        values = {k: _from_json(v) for k, v in data.items()}
        try:
            settings = cls(**values)
        except TypeError:  # validation tripped over a wrong type: name the setting and its type
            for key, value in values.items():
                check_type(key, value, hints[key])
            raise
        for key, value in values.items():  # what validation let through must still have its type
            check_type(key, value, hints[key])
        return settings


def finite(name: str, value: float, *, positive: bool = False) -> None:
    """Refuse NaN and infinite values (and, with `positive`, values <= 0).

    Raises:
        ValueError: Naming the setting and the value.
    """
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite{' positive' if positive else ''} number, got {value!r}")
