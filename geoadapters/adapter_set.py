"""`AdapterSet`: several adapters resident on one frozen base model, chosen per call.

The base encoder is built (and its official weights loaded) once. Each adapter gets its own encoder
modules made from the base's very tensors, with the method attached to them: LoRA wraps the shared
Linears (q, k, v are views of the shared fused projection) with that adapter's own low-rank
matrices, VPT adds its prompts by hooks on its own blocks, ViT-Adapter its modules around them, and
every adapter has its own head. Only the adapter's tensors are allocated; base tensors that an
adapter replaces (LoRA's ``replaced_tensors``) get a private copy first, so loading one adapter
never changes another. Linear probes leave the encoder unchanged: they all use the base encoder
itself. `AdapterSet.passes` plans how several adapters run on one input: the probes, LoRA and VPT
adapters in one batched pass of the base (`geoadapters.methods.batched`; one per VPT prompt count),
the others on their own encoder. Full fine-tunes replace every base
weight and cannot share: adding one is an error (load it alone with `geoadapters.load`).
"""

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from geoadapters.backbone import create_backbone
from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError
from geoadapters.factory import check_buildable
from geoadapters.geomodel import GeoModel
from geoadapters.heads.build import build_head
from geoadapters.hub.folder import read_tensors
from geoadapters.methods.adapt import add_adapter
from geoadapters.methods.batched import BatchedEncoder, Segment
from geoadapters.models.encoder import Encoder
from geoadapters.references import AdapterSource, resolve_adapter

if TYPE_CHECKING:
    from geoadapters.inference.predict import PredictReport

__all__ = ["AdapterSet", "Passes"]


def _storages(module: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}


def _make_private(encoder: nn.Module, names: set[str], shared: set[int]) -> None:
    """Give each of the named tensors of `encoder` that lives in `shared` memory a copy of its own."""
    for name, tensor in encoder.state_dict(keep_vars=True).items():
        if name not in names or tensor.untyped_storage().data_ptr() not in shared:
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = encoder.get_submodule(owner_name)
        if attr in owner._parameters:
            owner._parameters[attr] = nn.Parameter(tensor.detach().clone(), requires_grad=False)
        else:
            owner._buffers[attr] = tensor.detach().clone()


@dataclass(frozen=True)
class _Pass:
    """One encoder pass: its encoder, and the adapters of each of its segments."""

    encoder: Encoder | BatchedEncoder
    segments: list[list[str]]


@dataclass(frozen=True)
class Passes:
    """The encoder passes of several adapters of a set on one input (`AdapterSet.passes`).

    Calling it gives the logits of each adapter by name, in the order of `names`.
    """

    adapters: "AdapterSet"
    names: list[str]
    plan: list[_Pass]

    def __call__(self, x: Tensor, **metadata: Any) -> dict[str, Tensor]:
        """Logits of each adapter on the normalised input `x` (see `AdapterSet.forward`)."""
        out: dict[str, Tensor] = {}
        for step in self.plan:
            first = self.adapters[step.segments[0][0]]
            heads = [[self.adapters[n].head for n in segment] for segment in step.segments]
            logits = first.forward_segments(x, step.encoder, heads, **metadata)
            for segment, segment_logits in zip(step.segments, logits, strict=True):
                out |= dict(zip(segment, segment_logits, strict=True))
        return {name: out[name] for name in self.names}


class AdapterSet(nn.Module):
    """Adapters resident on one base model, sharing its frozen weights; the adapter is chosen per call.

    Args:
        base: Catalog name of the base model (``prithvi-300``).
        checkpoint: Local copy of the official base checkpoint (else the Hub's, cached).
        pretrained: Load the official base weights; False for random weights (tests, benchmarks).
        base_revision: Hub revision of the official base weights; default the catalog's.
        memory_budget_gb: Most memory each adapter's declared model may take (see `geoadapters.load`).

    Example:
        >>> models = AdapterSet("prithvi-300")
        >>> models.add("burn_scars", "burn_scars-lora")
        >>> models.add("floods", "sen1floods11-vpt")
        >>> logits = models(x, adapter="floods")  # x normalised as models["floods"].normalize does
    """

    def __init__(
        self,
        base: str,
        *,
        checkpoint: str | Path | None = None,
        pretrained: bool = True,
        base_revision: str | None = None,
        memory_budget_gb: float | None = None,
    ) -> None:
        super().__init__()
        self.base_name = base
        self.checkpoint = checkpoint
        self.pretrained = pretrained
        self.base_revision = base_revision
        self.memory_budget_gb = memory_budget_gb
        self.base: Encoder | None = None
        self.base_key: tuple[dict[str, Any], tuple[str, ...]] | None = None  # overrides, bands
        self.models = nn.ModuleDict()

    def __getitem__(self, name: str) -> GeoModel:
        """The model of one adapter (its encoder shares the base's tensors; do not merge it)."""
        model = self.models[name]
        assert isinstance(model, GeoModel)
        return model

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def _base_for(self, config: AdapterConfig, reference: str) -> Encoder:
        """The shared base encoder, built for the first adapter; later ones must fit it."""
        if config.method.carries_base_weights:
            raise AdapterError(
                f"adapter {reference} is a full fine-tune: it replaces every base weight, so it cannot share "
                "the base; load it on its own with geoadapters.load"
            )
        key = (dict(config.base.overrides), config.input.bands)
        if self.base is None:
            self.base = create_backbone(
                self.base_name,
                self.checkpoint,
                pretrained=self.pretrained,
                revision=self.base_revision,
                bands=config.input.bands,
                **config.base.overrides,
            ).requires_grad_(False)
            self.base_key = key
        elif key != self.base_key:
            raise AdapterError(
                f"adapter {reference} needs {self.base_name} with overrides {key[0]} and bands "
                f"{', '.join(key[1])}; the base of this set was built for {self.base_key}"
            )
        return self.base

    def add(self, name: str, adapter: str | Path | AdapterSource, *, revision: str | None = None) -> GeoModel:
        """Load an adapter onto the shared base under `name` and return its model (in eval mode).

        Args:
            name: The name calls choose it by.
            adapter: Adapter reference (as for `geoadapters.load`), or the `AdapterSource` it resolved to.
            revision: Hub revision of the adapter.

        Raises:
            AdapterError: The name is taken, the reference resolves to nothing or to an ONNX file, the
                adapter is a full fine-tune, needs other base overrides or bands than the set's, or is
                incomplete, corrupt or for another base.
            ResourceError: The declared model needs more memory than the budget.
        """
        if name in self.models:
            raise AdapterError(f"this set has an adapter named {name!r} already")
        if isinstance(adapter, AdapterSource):
            source = adapter
            source.config.check_base(self.base_name, source.reference)
        else:
            source = resolve_adapter(adapter, self.base_name, revision=revision)
        folder, config = source.folder("AdapterSet"), source.config
        source.check_loadable()
        check_buildable(config, folder, self.memory_budget_gb)
        base = self._base_for(config, source.reference)
        state = read_tensors(folder)
        if config.method.name == "linear_probe":
            encoder = base  # the encoder unchanged: one pass serves every linear probe
        else:
            shared = {id(t): t for t in (*base.parameters(), *base.buffers())}
            clone = copy.deepcopy(base, memo=shared)  # new modules holding the very same tensors
            encoder = add_adapter(clone, config.method.name, **config.method.to_dict())
        head = build_head(config.head.name, encoder, len(config.classes), **config.head.to_dict())
        model = GeoModel(encoder, head, config)
        if encoder is not base:
            _make_private(encoder, set(model.method.state_dict(encoder)), _storages(base))
        model.load_adapter_state_dict(state)
        self.models[name] = model.eval()
        return model

    def forward(self, x: Tensor, *, adapter: str, **metadata: Any) -> Tensor:
        """Logits of one adapter (see `GeoModel.forward`).

        Raises:
            KeyError: No adapter of that name.
        """
        logits: Tensor = self[adapter](x, **metadata)
        return logits

    def forward_many(
        self, x: Tensor, adapters: Sequence[str] | None = None, **metadata: Any
    ) -> dict[str, Tensor]:
        """Logits of several adapters (all by default) on the same input, in the passes `passes` plans.

        To call it again on the same adapters, keep the plan: ``passes = models.passes(names)``.

        Raises:
            AdapterError: The adapters expect different inputs (bands, normalisation, padding).
        """
        return self.passes(list(self.models) if adapters is None else adapters)(x, **metadata)

    def passes(self, adapters: Sequence[str], *, batched: bool = True) -> "Passes":
        """The encoder passes that give the logits of these adapters on one input.

        Linear probes share the unchanged base encoder. With `batched`, LoRA and VPT adapters join
        them in one batched pass of the base (`geoadapters.methods.batched`): the input repeated once
        per adapter (once for all probes), the frozen weights shared, each adapter's low-rank updates
        and prompts added to its own rows; adapters with different prompt counts take one pass per
        count. Adapters that cannot join (ViT-Adapter, LoRA that replaces base tensors) and, without
        `batched`, all but the probes, run their own adapted encoder. The plan holds the set's
        tensors on their current device.

        Raises:
            AdapterError: The adapters expect different inputs (bands, normalisation, padding).
        """
        names = list(adapters)
        models = [self[n] for n in names]
        if len({(m.config.input, m.config.padding) for m in models}) > 1:
            raise AdapterError(
                f"adapters {', '.join(names)} expect differently prepared inputs; call them one at a time"
            )
        by_encoder: dict[int, list[str]] = {}
        for name, model in zip(names, models, strict=True):
            by_encoder.setdefault(id(model.encoder), []).append(name)
        alone: list[_Pass] = []
        by_tokens: dict[int, list[tuple[Segment, list[str]]]] = {}
        for group in by_encoder.values():
            model = self[group[0]]
            segment = model.method.segment(model.encoder) if batched and model.method.segment else None
            if segment is None:
                alone.append(_Pass(model.encoder, [group]))
            else:
                by_tokens.setdefault(segment.tokens, []).append((segment, group))
        for joined in by_tokens.values():
            groups = [group for _, group in joined]
            if len(joined) == 1:
                alone.append(_Pass(self[groups[0][0]].encoder, groups))
            else:
                assert self.base is not None
                alone.append(_Pass(BatchedEncoder(self.base, [s for s, _ in joined]), groups))
        return Passes(self, names, alone)

    def predict_raster(
        self,
        source: "str | Path | Sequence[str | Path]",
        output: str | Path | None = None,
        *,
        adapters: Sequence[str] | None = None,
        device: str | None = None,
        precision: str = "fp32",
        vector: str | None = None,
        overwrite: bool = False,
        progress: "Callable[[int, int], None] | None" = None,
        **options: Any,
    ) -> "dict[str, PredictReport]":
        """Predict a scene with several adapters at once; each adapter's class map (and more) by its name.

        The scene is read and tiled once; each tile is prepared once per distinct input contract, and
        linear probes share one pass of the base encoder (`forward_many`). Each adapter writes
        ``<stem>_<name>_pred.tif`` (and ``_proba``, polygons, areas, ... beside it, as asked) next to
        the scene or in the folder `output`.

        Args:
            source: The scene (or its frames), as for `geoadapters.predict_raster`.
            output: A folder; None: beside the scene.
            adapters: Names of the adapters to run; default all.
            device: ``cpu``, ``cuda``, ``cuda:N``; None for CUDA where it exists.
            precision: ``fp32``; ``fp16``/``bf16`` on CUDA.
            vector: A format name (``gpkg``, ``geojson``, ``parquet``) of each adapter's polygons.
            overwrite: Replace existing outputs.
            progress: Called with (tiles done, tiles in all) after each batch.
            **options: The fields of `geoadapters.inference.request.PredictOptions` (tile_size,
                probabilities, areas, tta, ...).

        Raises:
            GeoAdaptersError: As `geoadapters.predict_raster`, for any of the adapters.
        """
        from geoadapters.inference.jobs import plan_jobs
        from geoadapters.inference.predict import predict_jobs
        from geoadapters.inference.request import PredictOptions
        from geoadapters.inference.set_runner import SetRunner

        names = list(self.models) if adapters is None else list(adapters)
        settings = PredictOptions(**options)
        scene = source if isinstance(source, str | Path) else list(source)
        jobs = [
            plan_jobs(
                [scene], output, vector=vector, probabilities=settings.probabilities,
                uncertainty=settings.uncertainty, areas=settings.areas, stac=settings.stac, label=name,
            )[0]
            for name in names
        ]  # fmt: skip
        runner = SetRunner(self, names, device, precision)
        reports = predict_jobs(jobs, runner, settings, overwrite=overwrite, progress=progress)
        return dict(zip(names, reports, strict=True))
