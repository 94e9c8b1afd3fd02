"""`add_adapter`: attach a registered method to an encoder; importing this module registers them all."""

from typing import Any

from geoadapters.errors import AdapterError
from geoadapters.methods import freeze, lora, vpt  # noqa: F401  (each registers its method)
from geoadapters.methods.method import Method, get_method
from geoadapters.methods.settings import method_settings
from geoadapters.methods.vit_adapter import model  # noqa: F401  (registers vit_adapter)
from geoadapters.models.encoder import Encoder

__all__ = ["add_adapter", "get_method"]


def add_adapter(encoder: Encoder, method: str, **settings: Any) -> Encoder:
    """Attach a method to an encoder from `geoadapters.create_backbone`.

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
    config = method_settings(method, **settings)
    if encoder.spec.family not in config.families:
        raise AdapterError(
            f"{method} does not apply to {encoder.spec.name}; it is for {', '.join(config.families)} encoders"
        )
    if encoder.adapter_method is not None:
        raise AdapterError(f"the encoder has a {encoder.adapter_method} adapter already")
    found: Method = get_method(method)
    adapted = found.apply(encoder, config)
    adapted.adapter_method = method
    return adapted
