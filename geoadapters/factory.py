"""`create` builds a new adapted model to train; `load` returns a ready one from an adapter reference.

Adapter references are resolved by `geoadapters.hub.refs`: a folder, ``org/repo[@revision]``, or a
short name ``<dataset>-<method>`` scoped by its base.
"""

from pathlib import Path
from typing import Any

import torch

from geoadapters.catalog import get_base
from geoadapters.config import AdapterConfig, BaseRef, Inference
from geoadapters.geomodel import GeoModel
from geoadapters.heads.build import build_head
from geoadapters.heads.settings import head_settings
from geoadapters.hub.folder import read_config, read_tensors
from geoadapters.hub.refs import resolve_adapter
from geoadapters.methods.adapt import add_adapter
from geoadapters.methods.settings import method_settings
from geoadapters.models.build import create_backbone
from geoadapters.specs import InputSpec

__all__ = ["build_model", "create", "load"]


def build_model(
    config: AdapterConfig, *, checkpoint: str | Path | None = None, pretrained: bool = True
) -> GeoModel:
    """The model an adapter config describes, with base weights but a freshly initialised adapter."""
    encoder = create_backbone(
        config.base.name,
        checkpoint,
        pretrained=pretrained,
        revision=config.base.revision,
        bands=config.input.bands,
        **config.base.overrides,
    )
    encoder = add_adapter(encoder, config.method.name, **config.method.to_dict())
    head = build_head(config.head.name, encoder, len(config.classes), **config.head.to_dict())
    return GeoModel(encoder, head, config)


def create(
    base: str,
    method: str = "lora",
    head: str = "linear",
    num_classes: int | None = None,
    *,
    classes: list[str] | tuple[str, ...] | None = None,
    colors: list[str] | tuple[str, ...] | None = None,
    checkpoint: str | Path | None = None,
    pretrained: bool = True,
    input: InputSpec | None = None,
    inference: Inference | None = None,
    name: str = "",
    **settings: Any,
) -> GeoModel:
    """Build a new model to train: base encoder + method + head (as `timm.create_model` does).

    Args:
        base: Catalog name of the base model (``prithvi-300``).
        method: ``lora``, ``vpt``, ``vit_adapter``, ``linear_probe`` or ``full``.
        head: ``linear``, ``fcn``, ``upernet``, ``unet`` or ``classification``.
        num_classes: Number of classes; or give `classes`.
        classes: Class names in output order.
        colors: Display colour of each class (``#rrggbb``) in written class maps; default a palette.
        checkpoint: Local copy of the official base checkpoint (else the Hub's, cached).
        pretrained: Load the base weights; False for random weights (tests, smoke runs), which the
            adapter records: it will not load onto the official weights.
        input: Input contract of the task data (dataset normalisation, scaling, nodata, GSD); its
            bands select the encoder's bands. Default: the base's pretraining bands and statistics.
        inference: Tiling for scenes; default 224 px tiles overlapping by 32 px.
        name: Short name ``<dataset>-<method>`` for publishing.
        **settings: Method settings (``r``, ``prompt_tokens``, ...), head settings (``channels``,
            ...) and base overrides (``bands``, ``num_frames``, ``depth``, ...), told apart by name.

    Raises:
        TypeError: A setting that no part takes, or that two parts take.
    """
    if classes is None:
        if num_classes is None:
            raise TypeError("give num_classes or classes")
        classes = [f"class {i}" for i in range(num_classes)]
    elif num_classes is not None and num_classes != len(classes):
        raise TypeError(f"num_classes={num_classes} but {len(classes)} class names")
    method_fields = set(method_settings(method).field_names())
    head_fields = set(head_settings(head).field_names())
    both = sorted(method_fields & head_fields & set(settings))
    if both:
        raise TypeError(
            f"setting(s) {', '.join(both)} are taken by both the {method} method and the {head} head"
        )
    method_kw = {k: v for k, v in settings.items() if k in method_fields}
    head_kw = {k: v for k, v in settings.items() if k in head_fields}
    base_kw = {k: v for k, v in settings.items() if k not in method_fields | head_fields}
    if input is not None:
        base_kw.setdefault("bands", input.bands)
    encoder = create_backbone(base, checkpoint, pretrained=pretrained, **base_kw)
    spec = encoder.spec
    if input is not None and input.bands != spec.input.bands:
        raise TypeError(f"input bands {input.bands} differ from the encoder's bands {spec.input.bands}")
    encoder = add_adapter(encoder, method, **method_kw)
    head_module = build_head(head, encoder, len(classes), **head_kw)
    config = AdapterConfig(
        base=BaseRef.from_spec(spec, pretrained=pretrained),
        method=method_settings(method, **method_kw),
        head=head_settings(head, **head_kw),
        classes=tuple(classes),
        colors=tuple(colors or ()),
        input=input or spec.input,
        inference=inference or Inference(),
        name=name,
    )
    return GeoModel(encoder, head_module, config)


def load(
    base: str | Path,
    adapter: str | Path | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
) -> GeoModel:
    """A ready model: base encoder + adapter + head, in eval mode, knowing its input contract.

    ``load(adapter)`` takes the base the adapter names (a folder or Hub id); ``load(base, adapter)``
    checks it, and is needed for short names. The base encoder alone comes from
    `geoadapters.create_backbone`.

    Args:
        base: Catalog name of the base model (``prithvi-300``), or the adapter when `adapter` is None.
        adapter: Adapter reference: folder, ``org/repo[@revision]``, or ``<dataset>-<method>``.
        revision: Hub revision of the adapter (overrides an ``@revision`` in the reference).
        device: Where to put the model (default CPU).
        checkpoint: Local copy of the official base checkpoint, for offline use.

    Raises:
        AdapterError: The adapter is incomplete, corrupt, made for another base model, or was trained
            on random base weights but needs the official ones.
        WeightsNotFoundError: Base or adapter files are neither local, cached nor downloadable.

    Example:
        >>> model = geoadapters.load("geoadapters/prithvi-300-burn_scars-lora")
        >>> model.input_spec.bands
        ('BLUE', 'GREEN', 'RED', 'NIR_NARROW', 'SWIR_1', 'SWIR_2')
    """
    name: str | None
    if adapter is None:
        name, adapter = None, base
    else:
        name = str(base)
        get_base(name)
    folder = resolve_adapter(adapter, name, revision=revision)
    config = read_config(folder)
    config.check_base(name, adapter)
    state = read_tensors(folder)
    # an adapter that replaces every base weight needs no official weights
    full = config.method.carries_base_weights
    model = build_model(config, checkpoint=None if full else checkpoint, pretrained=not full)
    model.load_adapter_state_dict(state)
    return model.eval().to(device or "cpu")
