"""`Method`: what a parameter-efficient method does to an encoder, and the registry of methods.

Each method module ends with its own `register_method(...)` call; everything that is particular to a
method (how it attaches, which tensors are its own, merging, extra files) is in its record, so generic
code never asks for a method by name.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from torch import Tensor

from geoadapters._registry import Registry
from geoadapters.errors import AdapterError
from geoadapters.methods.settings import MethodSettings
from geoadapters.models.checkpoint import state_mismatch
from geoadapters.models.encoder import Encoder

__all__ = ["Method", "check_tensors", "get_method", "owned_state", "register_method"]

EncoderFn = Callable[[Encoder], None]


@dataclass(frozen=True, kw_only=True)
class Method:
    """A way to adapt a frozen base encoder to a task.

    Attributes:
        settings: Settings class; its ``name`` is the method's, its defaults the paper's.
        apply: Attaches the method to an encoder (given validated settings) and sets ``requires_grad``
            so that exactly the method's parameters train; returns the encoder (the same module or a
            wrapper).
        state_dict: The adapter's tensors of an adapted encoder, under the names adapter files use.
        load_state_dict: Loads such tensors into an adapted encoder; raises `AdapterError` unless
            they are exactly the adapter's.
        merge: Folds the adapter into the base weights (for speed); None if it cannot.
        unmerge: Takes a merge out again.
        unload: Merges for good, leaving exactly the base architecture (for export).
        write_files: Writes the method's own files into an adapter folder being written.
        merged_shapes: Names and shapes of an adapter file's encoder tensors for the plain base
            encoder (given the settings), for `load_merged`; None if the method cannot merge so.
        load_merged: Folds an adapter file's encoder tensors into the plain base encoder's weights, in
            place (inference without the method's layers or libraries); raises `AdapterError` unless
            they are exactly those of `merged_shapes`.
    """

    settings: type[MethodSettings]
    apply: Callable[[Encoder, Any], Encoder]
    state_dict: Callable[[Encoder], dict[str, Tensor]]
    load_state_dict: Callable[[Encoder, Mapping[str, Tensor]], None]
    merge: EncoderFn | None = None
    unmerge: EncoderFn | None = None
    unload: EncoderFn | None = None
    write_files: Callable[[Encoder, Any, Path], None] | None = None
    merged_shapes: Callable[[Encoder, Any], dict[str, tuple[int, ...]]] | None = None
    load_merged: Callable[[Encoder, Any, Mapping[str, Tensor]], None] | None = None

    @property
    def name(self) -> str:
        """Registry name (``lora``)."""
        return self.settings.name


def check_tensors(expected: Mapping[str, Tensor], given: Mapping[str, Tensor], what: str = "adapter") -> None:
    """Raise `AdapterError` unless `given` has exactly the names and shapes of `expected`."""
    problems = state_mismatch(expected, given)
    if problems:
        raise AdapterError(f"the {what} weights do not fit this model; {problems}")


class OwnedState(TypedDict):
    """The `Method` fields `owned_state` makes."""

    state_dict: Callable[[Encoder], dict[str, Tensor]]
    load_state_dict: Callable[[Encoder, Mapping[str, Tensor]], None]


def owned_state(owns: Callable[[str], bool]) -> OwnedState:
    """``state_dict`` and ``load_state_dict`` of a method whose tensors are the entries `owns` accepts."""

    def state_dict(encoder: Encoder) -> dict[str, Tensor]:
        return {k: v for k, v in encoder.state_dict().items() if owns(k)}

    def load_state_dict(encoder: Encoder, state: Mapping[str, Tensor]) -> None:
        check_tensors(state_dict(encoder), state)
        encoder.load_state_dict(dict(state), strict=False)

    return OwnedState(state_dict=state_dict, load_state_dict=load_state_dict)


_METHODS: Registry[Method] = Registry("adapter method")


def register_method(method: Method) -> Method:
    """Add a method to the registry and return it.

    Raises:
        ValueError: A method of that name is registered already.
    """
    return _METHODS.register(method.name, method)


def get_method(name: str) -> Method:
    """The registered method of that name (the method modules register on import, see `methods.adapt`).

    Raises:
        UnknownNameError: No such method; the message suggests close names.
    """
    return _METHODS.get(name)
