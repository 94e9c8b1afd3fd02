"""Base model families: an architecture dataclass and the `Encoder` class that builds it, registered once.

A family is one `register_family` call naming its architecture dataclass (plain data, see
`geoadapters.specs.Arch`) and the ``"module:Class"`` of its encoder, which is imported only when an
encoder is built, so that reading the catalog and adapter configs needs no torch. The sizes of a family
are catalog entries (`geoadapters.catalog.register_base`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from geoadapters._registry import Registry, import_target

if TYPE_CHECKING:
    from geoadapters.models.encoder import Encoder
    from geoadapters.specs import BaseSpec

__all__ = ["Family", "family_of", "get_family", "register_family"]


@dataclass(frozen=True)
class Family:
    """An architecture family.

    Attributes:
        name: Family name (``prithvi``).
        arch: Its architecture dataclass.
        encoder: ``"module:Class"`` of its `geoadapters.models.Encoder` subclass, built from a `BaseSpec`.
    """

    name: str
    arch: type
    encoder: str

    def encoder_class(self) -> Callable[["BaseSpec"], "Encoder"]:
        """The encoder class (built from a `BaseSpec`), imported now.

        Raises:
            TypeError: The target is no `Encoder` subclass.
        """
        from geoadapters.models.encoder import Encoder

        found = import_target(self.encoder)
        if not (isinstance(found, type) and issubclass(found, Encoder)):
            raise TypeError(f"family {self.name}: {self.encoder} is no Encoder subclass")
        built: Callable[[BaseSpec], Encoder] = found
        return built


_FAMILIES: Registry[Family] = Registry("model family")
_BY_ARCH: dict[type, Family] = {}


def register_family(name: str, arch: type, encoder: str) -> Family:
    """Register a family: its architecture dataclass and ``"module:Class"`` of its encoder.

    Raises:
        ValueError: The name or the architecture class is registered already.
    """
    if arch in _BY_ARCH:
        raise ValueError(f"{arch.__name__} is the architecture of family {_BY_ARCH[arch].name} already")
    family = _FAMILIES.register(name, Family(name, arch, encoder))
    _BY_ARCH[arch] = family
    return family


def get_family(name: str) -> Family:
    """The registered family of that name.

    Raises:
        UnknownNameError: No such family.
    """
    return _FAMILIES.get(name)


def family_of(arch: object) -> Family:
    """The family of an architecture (an instance of a registered architecture dataclass).

    Raises:
        UnknownNameError: Its class is no registered family's.
    """
    family = _BY_ARCH.get(type(arch))
    if family is None:
        return _FAMILIES.get(type(arch).__name__)  # raises, naming the families there are
    return family
