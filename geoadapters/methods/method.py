"""`Method`: what a parameter-efficient method does to an encoder.

Each method module defines its record, which `geoadapters.methods.registry` names beside the method's
settings; everything that is particular to a method (whether it fits an encoder, how it attaches, which
tensors are its own, merging, extra files) is in its record, so generic code never asks for a method by
name.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from torch import Tensor

from geoadapters.errors import AdapterError
from geoadapters.models.checkpoint import state_mismatch
from geoadapters.models.encoder import Encoder

if TYPE_CHECKING:
    from geoadapters.methods.batched import Segment

__all__ = ["Method", "check_tensors", "owned_state"]

EncoderFn = Callable[[Encoder], None]


@dataclass(frozen=True, kw_only=True)
class Method:
    """A way to adapt a frozen base encoder to a task.

    Attributes:
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
        fits: Why the method does not apply to an encoder (given the settings), or None if it does;
            None: it applies to every encoder.
        segment: What an adapted encoder adds to its base in a batched pass of several adapters
            (`geoadapters.methods.batched`), or None where this adapter cannot join one (it runs its
            own encoder); None: the method never can.
    """

    apply: Callable[[Encoder, Any], Encoder]
    state_dict: Callable[[Encoder], dict[str, Tensor]]
    load_state_dict: Callable[[Encoder, Mapping[str, Tensor]], None]
    merge: EncoderFn | None = None
    unmerge: EncoderFn | None = None
    unload: EncoderFn | None = None
    write_files: Callable[[Encoder, Any, Path], None] | None = None
    merged_shapes: Callable[[Encoder, Any], dict[str, tuple[int, ...]]] | None = None
    load_merged: Callable[[Encoder, Any, Mapping[str, Tensor]], None] | None = None
    fits: Callable[[Encoder, Any], str | None] | None = None
    segment: "Callable[[Encoder], Segment | None] | None" = None


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
