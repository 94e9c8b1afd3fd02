"""`ResidentAdapters`: a bounded set of adapters kept in memory, by reference, for services and demos.

Adapters are loaded on first use onto a base built once per base and input (one `AdapterSet` per
catalog base, overrides and bands), and kept while they fit a memory budget: beyond it, the least
recently used adapters are dropped (and a base whose last adapter went). A full fine-tune, which
replaces every base weight, shares nothing: it is resident as a model of its own, counted whole, in
the same budget and order. A reference is resolved
(`geoadapters.references.resolve_adapter`) and the adapter kept under its pinned reference, so that
two references to the same files share one resident model and a request never gets another's
adapter. Thread-safe: loading and eviction hold a lock; predictions run outside it, on models that
stay alive for the request that holds them even if they are evicted meanwhile.
"""

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from geoadapters.adapter_set import AdapterSet
from geoadapters.errors import ResourceError
from geoadapters.geomodel import GeoModel
from geoadapters.inference.predict import PredictReport, predict_jobs
from geoadapters.inference.set_runner import SetRunner
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.references import resolve_adapter

__all__ = ["Resident", "ResidentAdapters"]

# The set key of a full fine-tune (resident on its own, by its pinned reference).
_WHOLE = "whole"


def _bytes(tensors: Sequence[Any], seen: set[int]) -> int:
    total = 0
    for tensor in tensors:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total


def _module_bytes(module: nn.Module, seen: set[int]) -> int:
    """Bytes of the module's tensors whose storage is not in `seen` (then added to it)."""
    return _bytes([*module.parameters(), *module.buffers()], seen)


@dataclass(frozen=True)
class Resident:
    """One resident adapter: its pinned reference, base, and the bytes of its own tensors."""

    reference: str
    base: str
    bytes: int


class ResidentAdapters:
    """Adapters resident in memory within `budget_gb`, the least recently used dropped first.

    Args:
        budget_gb: Most memory the resident bases and adapters may take together (GB).
        checkpoint: Local copies of the official base checkpoints, by base name (else the Hub's, cached).
        pretrained: Load the official base weights; False for random ones (tests, benchmarks).
        device: Where the models run (``cpu``, ``cuda``; None: CUDA where it exists).
        precision: ``fp32``; ``fp16``/``bf16`` on CUDA.
        available: The references `available` lists (what a service offers besides the resident ones).

    Raises:
        ResourceError: (on use) One base and adapter alone are over the budget.
    """

    def __init__(
        self,
        budget_gb: float,
        *,
        checkpoint: dict[str, str | Path] | None = None,
        pretrained: bool = True,
        device: str | None = None,
        precision: str = "fp32",
        available: Sequence[str] = (),
    ) -> None:
        self.budget = int(budget_gb * 2**30)
        self.checkpoint = dict(checkpoint or {})
        self.pretrained = pretrained
        self.device = device
        self.precision = precision
        self.available = tuple(available)
        self._lock = threading.Lock()
        self._sets: dict[str, AdapterSet] = {}  # by base key
        self._base_bytes: dict[str, int] = {}
        self._lru: OrderedDict[str, tuple[str, str, Resident]] = OrderedDict()  # pinned -> (set, name, info)
        self._whole: dict[str, TorchRunner] = {}  # full fine-tunes, by pinned reference
        self._count = 0

    @property
    def used(self) -> int:
        """Bytes of the resident bases and adapters."""
        with self._lock:
            return self._used()

    def _used(self) -> int:
        return sum(self._base_bytes.values()) + sum(info.bytes for _, _, info in self._lru.values())

    def resident(self) -> list[Resident]:
        """The resident adapters, least recently used first."""
        with self._lock:
            return [info for _, _, info in self._lru.values()]

    def runner(
        self, reference: str, base: str | None = None, revision: str | None = None
    ) -> SetRunner | TorchRunner:
        """A runner of the adapter `reference` names (on `base`), loaded now unless resident.

        Raises:
            GeoAdaptersError: The reference does not resolve or load (see `AdapterSet.add`).
            ResourceError: The adapter and its base alone are over the budget.
        """
        source = resolve_adapter(reference, base, revision=revision)
        with self._lock:
            if source.pinned in self._lru:
                self._lru.move_to_end(source.pinned)
                key, name, _ = self._lru[source.pinned]
                if key == _WHOLE:
                    return self._whole[name]
                return SetRunner(self._sets[key], [name], self.device, self.precision)
            if source.config.method.carries_base_weights:
                from geoadapters.factory import load

                whole = TorchRunner(load(source), self.device, self.precision)
                self._whole[source.pinned] = whole
                info = Resident(source.pinned, source.base, _module_bytes(whole.model, set()))
                self._lru[source.pinned] = (_WHOLE, source.pinned, info)
                self._evict(keep=source.pinned)
                return whole
            config = source.config
            key = json.dumps(
                [source.base, dict(config.base.overrides), list(config.input.bands)], default=str
            )
            if key not in self._sets:
                adapters = AdapterSet(
                    source.base, checkpoint=self.checkpoint.get(source.base), pretrained=self.pretrained
                )
                self._sets[key] = adapters
            adapters = self._sets[key]
            self._count += 1
            name = f"adapter-{self._count}"
            model = adapters.add(name, source)
            assert adapters.base is not None
            base_storages: set[int] = set()
            self._base_bytes[key] = _module_bytes(adapters.base, base_storages)  # the same each time
            info = Resident(source.pinned, source.base, _module_bytes(model, base_storages))
            self._lru[source.pinned] = (key, name, info)
            self._evict(keep=source.pinned)
            return SetRunner(adapters, [name], self.device, self.precision)

    def _evict(self, keep: str) -> None:
        """Drop the least recently used adapters (and bases left without any) until the budget holds."""
        while self._used() > self.budget:
            victim = next((ref for ref in self._lru if ref != keep), None)
            if victim is None:
                key, name, info = self._lru.pop(keep)
                self._drop(key, name)
                raise ResourceError(
                    f"adapter {info.reference} on {info.base} needs about "
                    f"{(info.bytes + self._base_bytes.get(key, 0)) / 2**30:.2f} GB resident, over the budget "
                    f"of {self.budget / 2**30:.2f} GB"
                )
            key, name, _ = self._lru.pop(victim)
            self._drop(key, name)

    def _drop(self, key: str, name: str) -> None:
        if key == _WHOLE:
            del self._whole[name]
            return
        adapters = self._sets[key]
        del adapters.models[name]
        if not len(adapters):
            del self._sets[key]
            self._base_bytes.pop(key, None)

    def get(self, reference: str, base: str | None = None) -> GeoModel:
        """The resident model of the adapter `reference` names (loaded now unless resident)."""
        runner = self.runner(reference, base)
        return runner.model if isinstance(runner, TorchRunner) else runner.adapters[runner.names[0]]

    def predict(
        self,
        reference: str,
        source: str | Path,
        output: str | Path,
        *,
        base: str | None = None,
        vector: str | Path | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> PredictReport:
        """Predict a scene with the adapter `reference` names, as `geoadapters.predict_raster` does.

        `options` are the fields of `geoadapters.inference.request.PredictOptions`.
        """
        from geoadapters.inference.jobs import plan_jobs
        from geoadapters.inference.request import PredictOptions

        settings = PredictOptions(**options)
        (job,) = plan_jobs(
            [source], output, vector=vector, probabilities=settings.probabilities,
            uncertainty=settings.uncertainty, areas=settings.areas, stac=settings.stac,
        )  # fmt: skip
        runner = self.runner(reference, base)
        return predict_jobs([job], runner, settings, overwrite=overwrite, progress=progress)[0]
