"""The schema rules of what files declare, `Settings` (their JSON round trip) and bounded JSON files.

What ``geoadapter.json``, a TerraTorch config and ONNX metadata declare is described by pydantic
dataclasses and models with one configuration, `SCHEMA`: strict (a string is no number, a list no
string, a float no integer), extra keys refused, numbers finite, and each field's bounds in its
annotation (``Annotated[int, Field(ge=1, le=1024)]``). Settings round-trip through JSON: tuples are
written as lists and read back as tuples. A `pydantic.ValidationError` becomes one line that names each
field and what it must be (`explain`). JSON files come from strangers: `read_json` reads regular files
only, up to a size, and turns every failure into one `ValueError`.
"""

import dataclasses
import functools
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

__all__ = ["JSON_LIMIT", "SCHEMA", "Settings", "explain", "finite", "read_json", "schema_of", "validate_json"]

_S = TypeVar("_S", bound="Settings")
_T = TypeVar("_T")

# geoadapter.json and PEFT's adapter_config.json are a few kB; nothing legitimate comes close.
JSON_LIMIT = 1 << 20

# The one configuration of every schema of a file's declarations; built on first use (`info` stays fast).
SCHEMA = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, defer_build=True)


_SHOULD = re.compile(r"^\w+ should")  # pydantic's "Input should", "String should": "must"


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# A colour of geoadapter.json, and what patterns mean in messages.
COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
_PATTERNS = {COLOR_PATTERN: "a colour as #rrggbb"}


def _where(problem: Any) -> str:
    # union members ("list[constrained-str]") and validator steps are no place in the file
    return ".".join(str(p) for p in problem["loc"] if "[" not in str(p) and "-" not in str(p))


def explain(err: ValidationError, limit: int = 3) -> str:
    """The problems of a validation error on one line: ``field.sub must be ..., got value``.

    Of a union's members, the one that got furthest into the value speaks (``classes.0.color``, not
    ``classes.0 must be a valid string``).
    """
    parts: list[str] = []
    problems = err.errors(include_url=False)
    deeper = {_where(p) for p in problems}
    for problem in problems:
        where = _where(problem)
        if any(other.startswith(f"{where}.") for other in deeper):
            continue
        kind, ctx = problem["type"], problem.get("ctx", {})
        if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERNS:
            text = f"{where} must be {_PATTERNS[ctx['pattern']]}, got {_shown(problem['input'])}"
        elif kind == "value_error":  # raised by a __post_init__ or validator: its own sentence
            text = (f"{where}: " if where else "") + " ".join(str(ctx.get("error", problem["msg"])).split())
        elif kind in ("missing", "unexpected_keyword_argument", "extra_forbidden"):
            text = f"{where} is {'missing' if kind == 'missing' else 'no known key'}"
        elif kind in ("too_long", "too_short"):
            bound = ctx.get("max_length" if kind == "too_long" else "min_length")
            text = f"{where} must have {'at most' if kind == 'too_long' else 'at least'} {bound} items, "
            text += f"got {ctx.get('actual_length')}"
        else:
            text = f"{where or 'the value'} {_SHOULD.sub('must', problem['msg'])}"
            text += f", got {_shown(problem['input'])}"
        if text not in parts:
            parts.append(text)
    more = len(parts) - limit
    return "; ".join(parts[:limit]) + (f" (and {more} more)" if more > 0 else "")


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def schema_of(kind: Any) -> dict[str, Any]:
    """The JSON Schema of a schema dataclass or type, as JSON files hold it."""
    return _adapter(kind).json_schema(mode="validation")


def validate_json(kind: type[_T], data: Any) -> _T:
    """`data` (parsed JSON, or Python values such as JSON holds) validated as JSON of the type `kind`.

    JSON mode: objects build nested dataclasses and lists fill tuples, every other rule stays strict.

    Raises:
        ValueError: One line that names each invalid field (`explain`).
    """
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"not JSON data: {err}") from err
    try:
        return _adapter(kind).validate_json(text)  # type: ignore[no-any-return,arg-type]
    except ValidationError as err:
        raise ValueError(explain(err)) from None


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
    """Mixin of the settings dataclasses (``@pydantic.dataclasses.dataclass(frozen=True, config=SCHEMA)``).

    Their fields' annotations are the schema: types and bounds; ``__post_init__`` checks what relates
    fields to each other.
    """

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
        """Build from a dict such as `to_dict` writes, validated by the class's schema.

        Raises:
            TypeError: Not an object, or a key that is no setting of this class (the message lists the
                valid ones).
            ValueError: A value of the wrong type or out of bounds.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} must be a JSON object, got {_shown(_to_json(data))}")
        unknown = sorted(map(str, set(data) - set(cls.field_names())))
        if unknown:
            valid = ", ".join(cls.field_names()) or "none"
            raise TypeError(f"{cls.__name__} has no setting {', '.join(unknown)}; valid settings: {valid}")
        return validate_json(cls, dict(data))


def finite(name: str, value: float, *, positive: bool = False) -> None:
    """Refuse NaN and infinite values (and, with `positive`, values <= 0) of an option.

    Raises:
        ValueError: Naming the option and the value.
    """
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite{' positive' if positive else ''} number, got {value!r}")
