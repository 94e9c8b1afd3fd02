"""The registry of task heads: one entry per head, its settings and its builder.

`register_head(settings, builder)` is the one registration of a head: its settings class (plain data,
so that ``geoadapter.json`` is validated without torch) and the ``"module:function"`` of its builder,
``(Features, settings, num_classes) -> (Neck, decoder)``, imported when a head is built.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from geoadapters._registry import Registry, import_target
from geoadapters.heads.settings import (
    ClassificationSettings,
    FCNSettings,
    HeadSettings,
    LinearSettings,
    UNetSettings,
    UPerNetSettings,
)

if TYPE_CHECKING:
    from torch import nn

    from geoadapters.heads.necks import Neck
    from geoadapters.models.encoder import Features

__all__ = ["Builder", "get_builder", "head_settings", "list_heads", "register_head"]

Builder = Callable[["Features", Any, int], tuple["Neck", "nn.Module"]]


@dataclass(frozen=True)
class _Entry:
    settings: type[HeadSettings]
    builder: str


_HEADS: Registry[_Entry] = Registry("head")


def register_head(settings: type[HeadSettings], builder: str) -> None:
    """Register a head under ``settings.name``: its settings class and ``"module:function"`` of its builder.

    Raises:
        ValueError: A head of that name is registered already.
    """
    _HEADS.register(settings.name, _Entry(settings, builder))


def list_heads() -> list[str]:
    """Names of the registered heads."""
    return _HEADS.names()


def head_settings(name: str, **settings: Any) -> HeadSettings:
    """Validated settings of a head; settings not given take the paper's defaults.

    Raises:
        UnknownNameError: No head of that name; the message suggests close names.
        TypeError: A setting the head does not have; the message lists the valid ones.
        ValueError: A setting out of range.

    Example:
        >>> head_settings("upernet").to_dict()
        {'channels': 256, 'pool_scales': [1, 2, 3, 6], 'layers': None}
    """
    return _HEADS.get(name).settings.from_dict(settings)


def get_builder(name: str) -> Builder:
    """The builder of a head, imported on first use.

    Raises:
        UnknownNameError: No head of that name.
        TypeError: Its builder is not callable.
    """
    entry = _HEADS.get(name)
    found = import_target(entry.builder)
    if not callable(found):
        raise TypeError(f"head {name}: {entry.builder} is not callable")
    builder: Builder = found
    return builder


register_head(LinearSettings, "geoadapters.heads.builders:linear")
register_head(FCNSettings, "geoadapters.heads.builders:fcn")
register_head(UPerNetSettings, "geoadapters.heads.builders:upernet")
register_head(UNetSettings, "geoadapters.heads.builders:unet")
register_head(ClassificationSettings, "geoadapters.heads.builders:classification")
