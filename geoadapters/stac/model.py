"""The STAC MLM description of an adapter (``mlm.json`` in its folder), made from its ``geoadapter.json``.

A STAC Item with the Machine Learning Model extension (MLM v1.6.0, the version `stac-model` writes): the
model's name, architecture (base + method + head), task, framework, input (bands in order, the tile's
shape and data type, and each band's normalisation as a z-score of the stored values: the adapter's
``scale`` folded in), output (the class scores and the classes with their colours), the base's Hub
repository and revision as its pretrained source and a link, and the tiling as hyper-parameters. Plain
JSON, no pystac or stac-model at run time: `write_adapter` writes it beside ``geoadapter.json`` from the
same config, so the two never disagree; the tests parse it back with `stac-model` and validate it
with pystac.
"""

import json
import re
from typing import TYPE_CHECKING, Any

from geoadapters.config import AdapterConfig

if TYPE_CHECKING:
    from geoadapters.references import AdapterSource

__all__ = [
    "MLM_FILE", "MLM_SCHEMA", "STAC_VERSION", "hub_url", "mlm_item", "mlm_json", "mlm_link", "stac_classes",
]  # fmt: skip

MLM_FILE = "mlm.json"
MLM_SCHEMA = "https://stac-extensions.github.io/mlm/v1.6.0/schema.json"
STAC_VERSION = "1.1.0"
# When a model has no date of its own (STAC Items need one): the config records none.
_NO_DATE = "1970-01-01T00:00:00Z"


def hub_url(repo_id: str, revision: str, path: str = "") -> str:
    """The Hugging Face Hub page of a repository at a revision (or of one of its files)."""
    if path:
        return f"https://huggingface.co/{repo_id}/blob/{revision}/{path}"
    return f"https://huggingface.co/{repo_id}/tree/{revision}"


def stac_classes(config: AdapterConfig, *, titles: bool = True) -> list[dict[str, Any]]:
    """The adapter's classes as classification-extension class objects (in MLM outputs and Items).

    The extension's ``name`` is machine-readable (letters, digits, ``-`` and ``_`` only: other runs of
    characters become ``_``); the class name as written is the ``description`` and, with `titles`, the
    ``title`` (a map legend's label; `stac-model` 0.7 does not parse titles, so ``mlm.json`` has none).
    """
    classes = []
    for i, label in enumerate(config.classes):
        name = re.sub(r"[^0-9A-Za-z_-]+", "_", label).strip("_") or f"class_{i}"
        extra = {"title": label} if titles else {}
        if config.colors:
            extra["color_hint"] = config.colors[i].lstrip("#").upper()
        classes.append({"value": i, "name": name, "description": label} | extra)
    return classes


def mlm_item(config: AdapterConfig, *, weights: str = "adapter_model.safetensors") -> dict[str, Any]:
    """The MLM Item of an adapter: what it takes, what it gives, what it was made from.

    Args:
        config: The adapter's config.
        weights: The file name of its weights, the Item's model asset.
    """
    spec, base = config.input, config.base
    bands = list(spec.bands) * config.frames
    tile = config.inference.tile_size
    created = str(config.provenance.get("created", "")) or _NO_DATE
    scaling = [
        {"type": "z-score", "mean": mean / spec.scale, "stddev": std / spec.scale}
        for mean, std in zip(spec.mean, spec.std, strict=True)
    ] * config.frames
    name = config.name or f"{base.name}-{config.method.name}-{config.head.name}"
    properties: dict[str, Any] = {
        "datetime": created,
        "description": f"{config.method.name} adapter with a {config.head.name} head on {base.name} "
        f"({base.repo_id}@{base.revision}), for {len(config.classes)}-class segmentation",
        "mlm:name": name,
        "mlm:architecture": f"{base.name} + {config.method.name} + {config.head.name}",
        "mlm:tasks": ["semantic-segmentation"],
        "mlm:framework": "pytorch",
        # MLM wants named input bands described as STAC bands, and STAC 1.1 allows them in the
        # properties only when an asset has bands too: the weights asset, which takes them
        "bands": [{"name": band} for band in bands],
        "mlm:pretrained": base.pretrained,
        "mlm:pretrained_source": f"{base.repo_id}@{base.revision}",
        "mlm:batch_size_suggestion": config.inference.batch_size,
        "mlm:accelerator": None,
        "mlm:accelerator_constrained": False,
        "mlm:hyperparameters": {
            "tile_size": tile,
            "overlap": config.inference.overlap,
            "frames": config.frames,
            "method": config.method.name,
            "head": config.head.name,
            "gsd": spec.gsd,
            "nodata": spec.nodata,
            "units": spec.units,
        },
        "mlm:input": [
            {
                "name": "tiles",
                "bands": bands,
                "input": {
                    "shape": [-1, len(bands), tile, tile],
                    "dim_order": ["batch", "bands", "height", "width"],
                    "data_type": "float32",
                },
                "value_scaling": scaling,
                "resize_type": None,
                "pre_processing_function": None,
            }
        ],
        "mlm:output": [
            {
                "name": "classes",
                "tasks": ["semantic-segmentation"],
                "result": {
                    "shape": [-1, len(config.classes), tile, tile],
                    "dim_order": ["batch", "channel", "height", "width"],
                    "data_type": "float32",
                },
                "classification:classes": stac_classes(config, titles=False),
                "post_processing_function": None,
            }
        ],
    }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [MLM_SCHEMA],
        "id": name,
        "geometry": None,
        "properties": properties,
        "links": [
            {
                "rel": "derived_from",
                "href": hub_url(base.repo_id, base.revision, base.filename),
                "type": "application/octet-stream",
                "title": f"base weights {base.name} at {base.revision}",
            }
        ],
        "assets": {
            "weights": {
                "href": f"./{weights}",
                "type": "application/octet-stream; application=safetensors",
                "title": "adapter and head weights (safetensors); the base comes from mlm:pretrained_source",
                "roles": ["mlm:model", "mlm:weights"],
                "mlm:artifact_type": "safetensors",
                "bands": [{"name": band} for band in bands],
            },
            "config": {
                "href": "./geoadapter.json",
                "type": "application/json",
                "title": "geoadapters config: the input contract, method, head, classes",
                "roles": ["metadata"],
            },
        },
    }


def mlm_json(config: AdapterConfig) -> str:
    """`mlm_item` as the text of ``mlm.json``."""
    return json.dumps(mlm_item(config), indent=2) + "\n"


def mlm_link(source: "AdapterSource") -> str:
    """Where a resolved adapter's ``mlm.json`` is: its Hub page at the commit, or its file; "" if none."""
    if source.kind == "hub" and "@" in source.pinned:
        repo, revision = source.pinned.rsplit("@", 1)
        return hub_url(repo, revision, MLM_FILE)
    local = source.path / MLM_FILE
    return local.resolve().as_uri() if source.path.is_dir() and local.is_file() else ""
