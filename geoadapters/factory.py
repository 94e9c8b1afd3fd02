"""`create` builds a new adapted model to train; `load` returns a ready one from an adapter reference.

Adapter references: a local folder; a Hub id ``org/repo`` with an optional ``@revision``; or a short
name ``<dataset>-<method>`` (``burn_scars-lora``), scoped by its base and looked up as the Hub
repository ``<org>/<base>-<dataset>-<method>``. The organisation is ``geoadapters`` unless the
``GEOADAPTERS_ORG`` environment variable names another.
"""

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geoadapters.adapters import add_adapter, get_method
from geoadapters.catalog import get_base
from geoadapters.config import AdapterConfig, BaseRef, Component, Inference
from geoadapters.errors import AdapterError
from geoadapters.folder import CARD, CONFIG, PEFT_CONFIG, WEIGHTS, read_adapter
from geoadapters.heads import build_head, head_settings
from geoadapters.hub import download_files
from geoadapters.model import GeoModel
from geoadapters.models import create_backbone
from geoadapters.specs import InputSpec

__all__ = ["adapter_org", "build_model", "create", "load", "resolve_adapter"]

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_SHORT_NAME = re.compile(r"^[\w.]+-[a-z_]+$")


def adapter_org() -> str:
    """Hub organisation that short adapter names resolve in."""
    return os.environ.get("GEOADAPTERS_ORG") or "geoadapters"


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
    encoder = add_adapter(encoder, config.method.name, **config.method.settings)
    head = build_head(config.head.name, encoder, len(config.classes), **config.head.settings)
    return GeoModel(encoder, head, config)


def create(
    base: str,
    method: str = "lora",
    head: str = "linear",
    num_classes: int | None = None,
    *,
    classes: list[str] | tuple[str, ...] | None = None,
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
        checkpoint: Local copy of the official base checkpoint (else the Hub's, cached).
        pretrained: Load the base weights; False for random weights (tests, smoke runs).
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
    method_fields = set(get_method(method).settings.field_names())
    head_fields = {f.name for f in dataclasses.fields(head_settings(head))}
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
        base=BaseRef.from_spec(spec),
        method=Component(method, get_method(method).settings.from_dict(method_kw).to_dict()),
        head=Component(head, head_settings(head, **head_kw).to_dict()),
        task=head_module.task,
        classes=tuple(classes),
        input=input or spec.input,
        inference=inference or Inference(),
        name=name,
    )
    return GeoModel(encoder, head_module, config)


def resolve_adapter(reference: str | Path, base: str, *, revision: str | None = None) -> Path:
    """Local folder of an adapter reference, downloading it from the Hub when it is not local.

    Raises:
        AdapterError: The reference is neither a folder, a Hub id nor a short name.
        WeightsNotFoundError: The Hub repository, revision or a file cannot be found or fetched.
    """
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    text = str(reference)
    repo_id, _, pinned = text.partition("@")
    if _SHORT_NAME.match(repo_id):
        repo_id = f"{adapter_org()}/{base}-{repo_id}"
    elif not _HUB_ID.match(repo_id):
        raise AdapterError(
            f"{text!r} is no adapter folder, Hub id (org/name[@revision]) or short name (<dataset>-<method>)"
        )
    files = download_files(
        repo_id, [CONFIG, WEIGHTS], revision=revision or pinned or None, optional=[CARD, PEFT_CONFIG]
    )
    return files[CONFIG].parent


def load(
    base: str,
    adapter: str | Path | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
) -> nn.Module:
    """A ready model: base encoder + adapter + head, in eval mode, knowing its input contract.

    Args:
        base: Catalog name of the base model (``prithvi-300``).
        adapter: Adapter reference (folder, ``org/repo[@revision]``, or ``<dataset>-<method>``);
            None returns the base encoder alone.
        revision: Hub revision of the adapter (overrides an ``@revision`` in the reference).
        device: Where to put the model (default CPU).
        checkpoint: Local copy of the official base checkpoint, for offline use.

    Raises:
        AdapterError: The adapter is incomplete, corrupt, or made for another base model.
        WeightsNotFoundError: Base or adapter files are neither local, cached nor downloadable.

    Example:
        >>> model = geoadapters.load("prithvi-300", "burn_scars-lora")
        >>> model.input_spec.bands
        ('BLUE', 'GREEN', 'RED', 'NIR_NARROW', 'SWIR_1', 'SWIR_2')
    """
    get_base(base)
    if adapter is None:
        model: nn.Module = create_backbone(base, checkpoint)
    else:
        folder = resolve_adapter(adapter, base, revision=revision)
        config, state = read_adapter(folder)
        if config.base.name != base:
            raise AdapterError(
                f"adapter {adapter} was made for {config.base.name}, not {base}; "
                f"load it with geoadapters.load({config.base.name!r}, {str(adapter)!r})"
            )
        # a full fine-tune carries every encoder tensor: the base weights are not needed
        full = config.method.name == "full"
        model = build_model(config, checkpoint=None if full else checkpoint, pretrained=not full)
        model.load_adapter_state_dict(state)
    return model.eval().to(device or "cpu")
