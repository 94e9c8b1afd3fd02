"""Model cards: the README.md of an adapter folder, rendered from `card_template.md`.

The YAML front matter follows the Hub's model-card metadata (``base_model``, ``base_model_relation:
adapter``, ``library_name``, tags), so the Hub links the adapter to its base model.
"""

from collections.abc import Mapping
from importlib import resources

import yaml

from geoadapters.config import AdapterConfig

__all__ = ["render_card"]


def _metadata(config: AdapterConfig) -> dict[str, object]:
    provenance = config.provenance
    data: dict[str, object] = {
        "library_name": "geoadapters",
        "license": provenance.get("license", "apache-2.0"),
        "base_model": config.base.repo_id,
        "base_model_relation": "finetune" if config.method.carries_base_weights else "adapter",
        "pipeline_tag": "image-segmentation" if config.task == "segmentation" else "image-classification",
        "tags": [
            "geoadapters",
            config.method.name.replace("_", "-"),
            "earth-observation",
            "remote-sensing",
            config.base.name.split("-")[0],
        ],
    }
    if "dataset_id" in provenance:
        data["datasets"] = [provenance["dataset_id"]]
    return data


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
    metrics = [
        [split, name, f"{value:.2f}" if isinstance(value, float) else value]
        for split, values in config.metrics.items()
        for name, value in values.items()
    ]
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
        "overlap": config.inference.overlap,
        "method": f"{config.method.name} ({_settings(config.method.to_dict())})",
        "head": f"{config.head.name} ({_settings(config.head.to_dict())})",
        "task": config.task,
        "classes": ", ".join(config.classes),
        "base_repo": config.base.repo_id,
        "base_revision": config.base.revision,
        "overrides": f", with {_settings(overrides)}" if overrides else "",
        "parameters": f"{parameters:,}",
        "megabytes": f"{size_bytes / 1e6:.1f} MB",
        "training": provenance.get("training", "Not recorded."),
        "evaluation": _table(["split", "metric", "value"], metrics) if metrics else "Not evaluated yet.",
    }
    template = resources.files("geoadapters.hub").joinpath("card_template.md").read_text()
    front = yaml.safe_dump(_metadata(config), sort_keys=False).strip()
    return f"---\n{front}\n---\n\n" + template.format(**fields)
