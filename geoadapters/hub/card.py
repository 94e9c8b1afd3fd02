"""Model cards: the README.md of an adapter folder, rendered from `card_template.md`.

The template lives in the package (not in the repository's ``model_cards/``, which keeps the cards
the project publishes) so that `GeoModel.save_pretrained` writes cards from an installed wheel.
The YAML front matter is huggingface_hub's `ModelCardData`: ``library_name``, ``base_model`` and
``base_model_relation: adapter`` (the Hub links the adapter to its base), ``datasets``, ``license``,
``tags``, ``pipeline_tag``, and the metrics as ``model-index``. Provenance keys the card reads:
``dataset`` and ``dataset_id`` (a Hub dataset), ``description``, ``training``, ``license`` and
``paper`` (the published result of each metric, shown beside ours).
"""

from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from geoadapters.config import AdapterConfig

__all__ = ["render_card"]


# Hub metric ids of the metrics training records.
_METRIC_TYPES = {"mIoU": "mean_iou", "accuracy": "accuracy", "F1": "f1", "mAP": "mean_average_precision"}


def _pipeline(config: AdapterConfig) -> str:
    return "image-segmentation" if config.task == "segmentation" else "image-classification"


def _scalars(metrics: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(split, metric, value) of every number; per-class dicts become ``IoU (class)``."""
    for split, values in metrics.items():
        if not isinstance(values, Mapping):
            yield "", split, values
            continue
        for name, value in values.items():
            if isinstance(value, Mapping):
                for key, inner in value.items():
                    yield split, f"{name} ({key})", inner
            else:
                yield split, name, value


def _metadata(config: AdapterConfig) -> str:
    """The front matter as YAML, with the scalar metrics of every split as ``model-index``."""
    from huggingface_hub import EvalResult, ModelCardData

    provenance = config.provenance
    dataset = str(provenance.get("dataset", "unknown"))
    results = [
        EvalResult(
            task_type=_pipeline(config),
            dataset_type=str(provenance.get("dataset_id", dataset)),
            dataset_name=dataset,
            dataset_split=split,
            metric_type=_METRIC_TYPES.get(name, name),
            metric_name=name,
            metric_value=value,
        )
        for split, name, value in _scalars(config.metrics)
        if isinstance(value, int | float) and "(" not in name and split
    ]
    data = ModelCardData(
        library_name="geoadapters",
        license=provenance.get("license", "apache-2.0"),
        base_model=config.base.repo_id,
        base_model_relation="finetune" if config.method.carries_base_weights else "adapter",
        pipeline_tag=_pipeline(config),
        datasets=[provenance["dataset_id"]] if "dataset_id" in provenance else None,
        tags=[
            "geoadapters",
            config.method.name.replace("_", "-"),
            "earth-observation",
            "remote-sensing",
            config.base.name.split("-")[0],
            *([dataset] if "dataset" in provenance else []),
        ],
        model_name=f"{config.base.name}-{config.name or 'adapter'}",
        eval_results=results or None,
    )
    return data.to_yaml().strip()


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _settings(settings: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"


def render_card(config: AdapterConfig, *, parameters: int, size_bytes: int) -> str:
    """The model card of an adapter whose tensors hold `parameters` values in `size_bytes` bytes."""
    spec = config.input
    provenance = config.provenance
    reference = config.name or "path/to/this/folder"
    paper = provenance.get("paper", {})
    metrics = [
        [
            split,
            name,
            f"{value:.2f}" if isinstance(value, float) else value,
            paper.get(split, {}).get(name, ""),
        ]
        for split, name, value in _scalars(config.metrics)
    ]
    header = ["test set", "metric", "value", "paper (arXiv 2504.17397)"]
    overrides = config.base.overrides
    fields = {
        "title": f"{config.name or 'Adapter'} for {config.base.name}",
        "summary": provenance.get(
            "description",
            f"A {config.method.name} adapter with a {config.head.name} head for {config.base.name}, "
            "trained with geoadapters (methods of arXiv 2504.17397).",
        ),
        "base": config.base.name,
        "reference": reference,
        "input_table": _table(
            ["band", "mean", "std"],
            [[b, m, s] for b, m, s in zip(spec.bands, spec.mean, spec.std, strict=True)],
        ),
        "scale": spec.scale,
        "units": spec.units or "units of the normalisation",
        "nodata": "none" if spec.nodata is None else spec.nodata,
        "gsd": "not given" if spec.gsd is None else f"{spec.gsd} m",
        "tile_size": config.inference.tile_size,
        "tiling": (
            f"overlapping by {config.inference.overlap} px, blended without seams"
            if config.inference.overlap
            else "side by side (no overlap)"
        ),
        "method": f"{config.method.name} ({_settings(config.method.to_dict())})",
        "head": f"{config.head.name} ({_settings(config.head.to_dict())})",
        "task": config.task,
        "classes": ", ".join(config.classes),
        "base_repo": config.base.repo_id,
        "base_revision": config.base.revision,
        "overrides": f", with {_settings(overrides)}" if overrides else "",
        "parameters": f"{parameters:,}",
        "megabytes": f"{size_bytes / 1e6:.1f} MB",
        "weights_note": (
            "every weight of the model: it needs no base weights"
            if config.method.carries_base_weights
            else "the base weights are not in this repository"
        ),
        "unloadable": (
            ""
            if config.unloadable() is None
            else f"\n**This adapter does not load for prediction**: {config.unloadable()}. Train it on the "
            "official base weights (or as a full fine-tune, which carries every weight) to use it.\n"
        ),
        "training": provenance.get("training", "Not recorded."),
        "evaluation": _table(header, metrics) if metrics else "Not evaluated yet.",
        "dataset": provenance.get("dataset", "not recorded"),
        "provenance": _table(
            ["", ""],
            [
                [key, provenance[key]]
                for key in (
                    "recipe",
                    "seed",
                    "epochs",
                    "git_commit",
                    "hardware",
                    "wall_seconds",
                    "peak_memory_mb",
                )
                if key in provenance
            ],
        ),
    }
    template = resources.files("geoadapters.hub").joinpath("card_template.md").read_text()
    return f"---\n{_metadata(config)}\n---\n\n" + template.format(**fields)
