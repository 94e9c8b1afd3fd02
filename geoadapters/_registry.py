"""`Registry`: named entries of one kind (base models, families, methods, heads), registered explicitly.

Registering a name twice is an error, and a lookup that misses names the closest entries. Entries whose
code needs torch name it as ``"module:attribute"`` (`import_target`), imported when it is used.
"""

import difflib
from importlib import import_module
from typing import Any, Generic, TypeVar

from geoadapters.errors import UnknownNameError

__all__ = ["Registry", "import_target"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name.

    Args:
        kind: What the entries are, for messages ("base model").
        hint: A sentence appended to lookup errors, e.g. where to see all names.
    """

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add an entry and return it.

        Raises:
            ValueError: An entry of that name exists already.
        """
        if name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry of that name.

        Raises:
            UnknownNameError: No such entry; the message suggests close names.
        """
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        hint = f" {self.hint}" if self.hint else f" Known: {', '.join(self._entries)}."
        raise UnknownNameError(f"no {self.kind} {name!r}.{suggestion}{hint}")

    def names(self) -> list[str]:
        """Names in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order."""
        return list(self._entries.items())


def import_target(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names, importing its module.

    Raises:
        ValueError: The string is not of that form.
        ImportError, AttributeError: The module or attribute does not exist.
    """
    module, colon, attribute = target.partition(":")
    if not colon or not module or not attribute:
        raise ValueError(f"{target!r} is not of the form 'package.module:attribute'")
    return getattr(import_module(module), attribute)
