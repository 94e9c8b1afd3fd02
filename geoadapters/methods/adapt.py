"""`add_adapter`: attach a registered method to an encoder."""

from typing import Any

from geoadapters.errors import AdapterError
from geoadapters.methods.registry import get_method, method_settings
from geoadapters.models.encoder import Encoder

__all__ = ["add_adapter"]


def add_adapter(encoder: Encoder, method: str, **settings: Any) -> Encoder:
    """Attach a method to an encoder from `geoadapters.create_backbone`.

    Args:
        encoder: The base encoder.
        method: ``lora``, ``vpt``, ``vit_adapter``, ``linear_probe``, ``full``, or another registered
            method (`geoadapters.methods.register_method`).
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
    config = method_settings(method, **settings)
    found = get_method(method)
    reason = found.fits(encoder, config) if found.fits is not None else None
    if reason is not None:
        raise AdapterError(f"{method} does not apply to {encoder.spec.name}: {reason}")
    if encoder.adapter_method is not None:
        raise AdapterError(f"the encoder has a {encoder.adapter_method} adapter already")
    adapted = found.apply(encoder, config)
    adapted.adapter_method = method
    return adapted
