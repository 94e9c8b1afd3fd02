"""The paper's ways to adapt a frozen encoder, behind one entry point: `add_adapter`.

``lora`` (PEFT), ``vpt`` (deep prompts), ``vit_adapter`` (Prithvi only), ``linear_probe`` (frozen
encoder, only the head trains) and ``full`` (everything trains). Each method's settings default to the
paper's (seed-facts.md 1.3), and applying one leaves exactly the method's parameters trainable.
"""

from dataclasses import dataclass
from typing import Any

from torch import nn

from geoadapters.adapters.lora import LoraSettings, apply_lora, load_lora_state_dict, lora_state_dict
from geoadapters.adapters.method import Method, get_method, list_methods, owned_state, register_method
from geoadapters.adapters.vit_adapter import ViTAdapterSettings, apply_vit_adapter, is_adapter_parameter
from geoadapters.adapters.vpt import VptSettings, apply_vpt, owns_vpt
from geoadapters.errors import AdapterError
from geoadapters.settings import Settings

__all__ = ["Method", "add_adapter", "get_method", "list_methods", "register_method"]


@dataclass(frozen=True)
class NoSettings(Settings):
    """Methods without settings."""


def _freeze(encoder: nn.Module, settings: NoSettings) -> nn.Module:
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder


def _unfreeze(encoder: nn.Module, settings: NoSettings) -> nn.Module:
    for parameter in encoder.parameters():
        parameter.requires_grad_(True)
    return encoder


_VITS = ("prithvi", "clay")
_ALL = ("prithvi", "clay", "resnet")

register_method(
    Method(
        "lora",
        LoraSettings,
        apply_lora,
        lora_state_dict,
        load_lora_state_dict,
        _VITS,
        "low-rank updates of q, v and the MLP (r 16, alpha 16), via PEFT",
    )
)
register_method(
    Method(
        "vpt", VptSettings, apply_vpt, *owned_state(owns_vpt), _VITS, "100 prompt tokens per block (deep VPT)"
    )
)
register_method(
    Method(
        "vit_adapter",
        ViTAdapterSettings,
        apply_vit_adapter,
        *owned_state(is_adapter_parameter),
        ("prithvi",),
        "spatial prior + deformable-attention injectors/extractors, 4 output scales",
    )
)
register_method(
    Method(
        "linear_probe",
        NoSettings,
        _freeze,
        *owned_state(lambda name: False),
        _ALL,
        "frozen encoder; only the head trains",
    )
)
register_method(
    Method("full", NoSettings, _unfreeze, *owned_state(lambda name: True), _ALL, "every parameter trains")
)


def add_adapter(encoder: nn.Module, method: str, **settings: Any) -> nn.Module:
    """Attach a method to an encoder from `geoadapters.models.create_backbone`.

    Args:
        encoder: The base encoder.
        method: ``lora``, ``vpt``, ``vit_adapter``, ``linear_probe`` or ``full``.
        **settings: The method's settings; the defaults are the paper's.

    Returns:
        The adapted encoder (the same module, or a wrapper for ``vit_adapter``), with exactly the
        method's parameters trainable; ``.adapter_method`` names the method.

    Raises:
        UnknownNameError: No such method.
        AdapterError: The method does not apply to this encoder.
        TypeError: A setting the method does not have.

    Example:
        >>> encoder = add_adapter(create_backbone("prithvi-300"), "lora", r=8)
    """
    spec = get_method(method)
    if encoder.spec.family not in spec.families:
        raise AdapterError(
            f"{method} does not apply to {encoder.spec.name}; it is for {', '.join(spec.families)} encoders"
        )
    if hasattr(encoder, "adapter_method"):
        raise AdapterError(f"the encoder has a {encoder.adapter_method} adapter already")
    adapted = spec.apply(encoder, spec.settings.from_dict(settings))
    adapted.adapter_method = method
    return adapted
