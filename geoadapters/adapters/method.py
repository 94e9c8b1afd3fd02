"""`Method`: what a parameter-efficient method is to the rest of the package, and their registry."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from geoadapters.errors import AdapterError
from geoadapters.registry import Registry
from geoadapters.settings import Settings

__all__ = ["Method", "check_tensors", "get_method", "list_methods", "owned_state", "register_method"]

StateDictFn = Callable[[nn.Module], dict[str, Tensor]]
LoadStateFn = Callable[[nn.Module, Mapping[str, Tensor]], None]


@dataclass(frozen=True)
class Method:
    """A way to adapt a frozen base encoder to a task.

    Attributes:
        name: Registry name (``lora``).
        settings: Settings class; its defaults are the paper's settings.
        apply: Attaches the method to an encoder and sets ``requires_grad`` so that exactly the
            method's parameters train; returns the encoder (the same module or a wrapper).
        state_dict: The adapter's tensors of an adapted encoder, under the names adapter files use.
        load_state_dict: Loads such tensors into an adapted encoder; raises `AdapterError` unless
            they are exactly the adapter's.
        families: Encoder families the method supports (prithvi, clay, resnet).
        description: One line for listings.
    """

    name: str
    settings: type[Settings]
    apply: Callable[[Any, Any], nn.Module]
    state_dict: StateDictFn
    load_state_dict: LoadStateFn
    families: tuple[str, ...]
    description: str


def owned_state(owns: Callable[[str], bool]) -> tuple[StateDictFn, LoadStateFn]:
    """State-dict functions for a method whose tensors are the encoder entries that `owns` accepts."""

    def state_dict(encoder: nn.Module) -> dict[str, Tensor]:
        return {k: v for k, v in encoder.state_dict().items() if owns(k)}

    def load_state_dict(encoder: nn.Module, state: Mapping[str, Tensor]) -> None:
        expected = state_dict(encoder)
        check_tensors(expected, state)
        encoder.load_state_dict(dict(state), strict=False)

    return state_dict, load_state_dict


def check_tensors(expected: Mapping[str, Tensor], given: Mapping[str, Tensor], what: str = "adapter") -> None:
    """Raise `AdapterError` unless `given` has exactly the names and shapes of `expected`."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    wrong = sorted(k for k in set(expected) & set(given) if expected[k].shape != given[k].shape)
    problems = [
        f"{label}: {', '.join(keys[:4])}" + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        if keys
    ]
    if problems:
        raise AdapterError(f"the {what} weights do not fit this model; " + "; ".join(problems))


_METHODS: Registry[Method] = Registry("adapter method")


def register_method(method: Method) -> Method:
    """Add a method to the registry.

    Raises:
        ValueError: A method of that name is registered already.
    """
    return _METHODS.register(method.name, method)


def get_method(name: str) -> Method:
    """The registered method of that name.

    Raises:
        UnknownNameError: No such method; the message suggests close names.
    """
    return _METHODS.get(name)


def list_methods() -> list[str]:
    """Names of the registered methods."""
    return _METHODS.names()
