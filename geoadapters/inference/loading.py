"""`load_runner`: the runtime of a run's adapters, loaded once: one adapter's runner, or a `SetRunner`.

One adapter loads alone (`ModelRef.load`: LoRA folded in, or an ONNX file). Several adapters load onto
one resident base (`geoadapters.adapter_set.AdapterSet`), named by their labels, and run together; they
must be torch adapters of one base.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from geoadapters.errors import DeviceError

if TYPE_CHECKING:
    from geoadapters.inference.request import ModelRef
    from geoadapters.inference.runners import Runner
    from geoadapters.inference.set_runner import SetRunner
    from geoadapters.references import AdapterSource

__all__ = ["load_runner"]


def load_runner(
    models: Sequence["ModelRef"],
    labels: Sequence[str],
    sources: Sequence["AdapterSource"] | None = None,
) -> "Runner | SetRunner":
    """The runner of one model, or the `SetRunner` of several (named by `labels`) on one base.

    Args:
        models: What to load, one per adapter (pinned references on workers).
        labels: The adapters' names in the set (several adapters).
        sources: What `models` resolved to, if they were resolved already.

    Raises:
        GeoAdaptersError: An adapter does not resolve or load, needs another base, or is an ONNX file
            among several.
    """
    resolved = list(sources) if sources is not None else [m.resolve() for m in models]
    if len(models) == 1:
        return models[0].load(resolved[0])
    from geoadapters.adapter_set import AdapterSet
    from geoadapters.inference.set_runner import SetRunner

    first = models[0]
    if first.runtime == "onnx" or any(s.kind == "onnx" for s in resolved):
        raise DeviceError(
            "several adapters run together on torch: give adapter folders or names, not .onnx files"
        )
    adapters = AdapterSet(
        resolved[0].base, checkpoint=first.checkpoint, base_revision=first.base_revision,
        memory_budget_gb=first.memory_budget_gb,
    )  # fmt: skip
    for label, source in zip(labels, resolved, strict=True):
        adapters.add(label, source)
    return SetRunner(adapters, labels, first.device, first.precision)
