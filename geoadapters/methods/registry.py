"""The registry of adaptation methods: one entry per method, its settings and its code.

`register_method(settings, implementation)` is the one registration of a method: its settings class
(plain data, so that ``geoadapter.json`` is validated without torch) and the ``"module:attribute"`` of
its `geoadapters.methods.method.Method` record (what it does to an encoder), imported when a model is
built. The paper's five methods are registered here; another method registers itself the same way from
its own module.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from geoadapters._registry import Registry, import_target
from geoadapters.methods.settings import (
    FullSettings,
    LinearProbeSettings,
    LoraSettings,
    MethodSettings,
    ViTAdapterSettings,
    VptSettings,
)

if TYPE_CHECKING:
    from geoadapters.methods.method import Method

__all__ = ["get_method", "list_methods", "method_settings", "register_method", "settings_class"]


@dataclass(frozen=True)
class _Entry:
    settings: type[MethodSettings]
    implementation: str


_METHODS: Registry[_Entry] = Registry("adapter method")


def register_method(settings: type[MethodSettings], implementation: str) -> None:
    """Register a method under ``settings.name``: its settings class and ``"module:attribute"`` of its record.

    Raises:
        ValueError: A method of that name is registered already.
    """
    _METHODS.register(settings.name, _Entry(settings, implementation))


def list_methods() -> list[str]:
    """Names of the registered methods."""
    return _METHODS.names()


def settings_class(name: str) -> type[MethodSettings]:
    """The settings class of a method.

    Raises:
        UnknownNameError: No method of that name; the message suggests close names.
    """
    return _METHODS.get(name).settings


def method_settings(name: str, **settings: Any) -> MethodSettings:
    """Validated settings of a method; settings not given take the paper's defaults.

    Raises:
        UnknownNameError: No method of that name; the message suggests close names.
        TypeError: A setting the method does not have; the message lists the valid ones.
        ValueError: A setting out of range.
    """
    return settings_class(name).from_dict(settings)


def get_method(name: str) -> "Method":
    """The record of a method (what it does to an encoder), imported on first use.

    Raises:
        UnknownNameError: No method of that name.
        TypeError: Its implementation is no `Method`.
    """
    from geoadapters.methods.method import Method

    entry = _METHODS.get(name)
    found = import_target(entry.implementation)
    if not isinstance(found, Method):
        raise TypeError(f"method {name}: {entry.implementation} is no Method record")
    return found


register_method(LoraSettings, "geoadapters.methods.lora:LORA")
register_method(VptSettings, "geoadapters.methods.vpt:VPT")
register_method(ViTAdapterSettings, "geoadapters.methods.vit_adapter.model:VIT_ADAPTER")
register_method(LinearProbeSettings, "geoadapters.methods.freeze:LINEAR_PROBE")
register_method(FullSettings, "geoadapters.methods.freeze:FULL")
