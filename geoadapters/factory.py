"""`create` builds a new adapted model to train; `load` returns a ready one from an adapter reference.

Adapter references are resolved by `geoadapters.references.resolve_adapter`. An adapter comes from a
stranger: `load` builds its architecture on the meta device first (no memory) and compares it with the
tensor shapes in the weights file's header and with the memory budget before allocating anything
(`check_buildable`), and the base weights come from the catalog's pinned revision or one the caller
passes, never from the adapter's files.
"""

from pathlib import Path
from typing import Any

import torch

from geoadapters.backbone import create_backbone
from geoadapters.config import AdapterConfig, BaseRef, Inference, memory_budget
from geoadapters.errors import AdapterError, ResourceError
from geoadapters.geomodel import GeoModel, build_model
from geoadapters.heads.build import build_head
from geoadapters.heads.registry import head_settings
from geoadapters.hub.folder import read_shapes, read_tensors
from geoadapters.methods.adapt import add_adapter
from geoadapters.methods.registry import method_settings
from geoadapters.references import AdapterSource, resolve_adapter
from geoadapters.specs import InputSpec, check_repo_id

__all__ = ["build_model", "check_buildable", "create", "load", "push"]


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


def check_buildable(
    config: AdapterConfig, folder: Path, budget: float | None = None, *, merged: bool = False
) -> None:
    """Compare the architecture the config declares with the weights file and the memory budget.

    Raises:
        AdapterError: The file's tensor names or shapes are not those of the declared architecture.
        ResourceError: The model would need more memory than the budget.
    """
    shapes = read_shapes(folder)
    try:
        with torch.device("meta"):
            skeleton = build_model(config, pretrained=False, merged=merged)
            expected = skeleton.adapter_shapes()
    except (TypeError, ValueError, LookupError) as err:
        raise AdapterError(f"adapter {folder} describes no model that can be built: {err}") from err
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = [f"{k} {shapes[k]} != {v}" for k, v in expected.items() if k in shapes and shapes[k] != v]
    problems = [
        f"{label}: {', '.join(items[:3])}{f' (+{len(items) - 3} more)' if len(items) > 3 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        if items
    ]
    if problems:
        raise AdapterError(
            f"the weights of adapter {folder} do not fit the architecture its geoadapter.json declares; "
            + "; ".join(problems)
        )
    tensors = [*skeleton.parameters(), *skeleton.buffers()]
    need = 2 * sum(t.numel() * t.element_size() for t in tensors)  # the model, and the file's tensors
    allowed = memory_budget(budget)
    if need > allowed:
        raise ResourceError(
            f"adapter {folder} declares a model of {need / 2**30:.1f} GiB (weights and their copy), over "
            f"the memory budget of {allowed / 2**30:.1f} GiB (`memory_budget`, or GEOADAPTERS_MEMORY_GB)"
        )


def load(
    base: str | Path | AdapterSource,
    adapter: str | Path | AdapterSource | None = None,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    base_revision: str | None = None,
    memory_budget_gb: float | None = None,
    merged: bool = False,
) -> GeoModel:
    """A ready model: base encoder + adapter + head, in eval mode, knowing its input contract.

    ``load(adapter)`` takes the base the adapter names; ``load(base, adapter)`` checks it, and is
    needed for short names. The base encoder alone comes from `geoadapters.create_backbone`.

    Args:
        base: Catalog name of the base model (``prithvi-300``), or the adapter when `adapter` is None.
        adapter: Adapter reference (`geoadapters.references`: a folder, the bundled model's or a
            published fine-tune's name, ``<dataset>-<method>``, ``org/repo[@revision]``), or an
            `AdapterSource` it resolved to.
        revision: Hub revision of the adapter (overrides an ``@revision`` in the reference).
        device: Where to put the model (default CPU).
        checkpoint: Local copy of the official base checkpoint, for offline use.
        base_revision: Hub revision of the official base weights; default the catalog's. The revision
            an adapter records is never used: anyone can publish an adapter naming any revision.
        memory_budget_gb: Most memory the model may take; default `geoadapters.config.memory_budget`.
        merged: Fold a LoRA adapter into the base weights as it is read, as PEFT merges it: the same
            outputs, faster, and without importing PEFT; the model is then for inference only (it
            cannot be saved or trained as an adapter). Other methods load as usual.

    Raises:
        AdapterError: The reference resolves to nothing or to an ONNX file; the adapter is
            incomplete, corrupt, made for another base model, its weights do not fit the architecture
            it declares, or it was trained on random base weights but needs the official ones.
        ResourceError: The declared model needs more memory than the budget (or than there is).
        WeightsNotFoundError: Base or adapter files are neither local, cached nor downloadable.

    Example:
        >>> model = geoadapters.load("geoadapters/prithvi-300-burn_scars-lora")
        >>> model.input_spec.bands
        ('BLUE', 'GREEN', 'RED', 'NIR_NARROW', 'SWIR_1', 'SWIR_2')
    """
    name: str | None
    if adapter is None:
        name, adapter = None, base
    elif isinstance(base, AdapterSource):
        raise TypeError("give the AdapterSource as the adapter: load(source) or load(base, source)")
    else:
        name = str(base)
    if isinstance(adapter, AdapterSource):
        source = adapter
        source.config.check_base(name, source.reference)
    else:
        source = resolve_adapter(adapter, name, revision=revision)
    folder, config = source.folder("geoadapters.load"), source.config
    source.check_loadable()
    check_buildable(config, folder, memory_budget_gb, merged=merged)
    # an adapter that replaces every base weight needs no official weights
    full = config.method.carries_base_weights
    try:
        state = read_tensors(folder)
        model = build_model(
            config,
            checkpoint=None if full else checkpoint,
            pretrained=not full,
            base_revision=base_revision,
            merged=merged,
        )
    except MemoryError as err:
        raise ResourceError(f"not enough memory to build the model of adapter {folder}") from err
    model.load_adapter_state_dict(state)
    return model.eval().to(device or "cpu")


def push(
    adapter: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
) -> str:
    """Upload an adapter's own files (`geoadapters.hub.folder.ADAPTER_FILES`) to the Hub as `repo_id`.

    Returns the commit id. Other files in the folder are not uploaded, and a symlink is refused. The
    folder's ``mlm.json`` is rewritten from its ``geoadapter.json`` first if it is missing or out of date.

    The adapter must load first: its config is validated and its tensors are loaded into the
    architecture it declares (without downloading the base weights), so a broken or mismatched
    adapter never reaches the Hub.

    Args:
        adapter: Adapter reference, usually a folder (`GeoModel.save_pretrained`, ``python -m
            training fit``); see `geoadapters.references`.
        repo_id: The Hub repository ``org/name``; `geoadapters.load` finds it by its short name
            when it is ``<org>/<base>-<dataset>-<method>`` (see `geoadapters.references`).
        private: Create the repository private.
        revision: Branch to commit to (created from main if needed); default main.
        message: Commit message.

    Raises:
        AdapterError: The reference resolves to nothing or to an ONNX file, the folder is incomplete,
            corrupt, holds a symlink, or its tensors do not fit its config, or `repo_id` is no Hub id.
        WeightsNotFoundError: The upload failed.
    """
    try:
        check_repo_id(repo_id)
    except ValueError as err:
        raise AdapterError(str(err)) from err
    source = resolve_adapter(adapter)
    folder = source.folder("geoadapters push")
    check_buildable(source.config, folder)
    # random base weights: what is checked is that the adapter's tensors fit its architecture
    build_model(source.config, pretrained=False).load_adapter_state_dict(read_tensors(folder))
    from geoadapters.hub.folder import adapter_files, refresh_mlm
    from geoadapters.hub.transport import upload_folder

    refresh_mlm(folder, source.config)  # the MLM description of the config as it is now
    files = adapter_files(folder)  # the adapter's own files: never what lies beside or behind a symlink
    return upload_folder(folder, repo_id, files, private=private, revision=revision, message=message)
