"""``geoadapters info``: what a base model or an adapter is, and what input it needs."""

import json
import math
from typing import Any

import click

from geoadapters.catalog import get_base, list_models
from geoadapters.config import AdapterConfig
from geoadapters.families import family_of

__all__ = ["info_command"]


def _base_info(name: str) -> dict[str, Any]:
    spec = get_base(name)
    return {
        "name": spec.name,
        "family": family_of(spec.arch).name,
        "description": spec.description,
        "weights": f"{spec.weights.repo_id}/{spec.weights.filename} @ {spec.weights.revision}",
        "bands": list(spec.input.bands),
        "mean": list(spec.input.mean),
        "std": list(spec.input.std),
        "units": spec.input.units,
        "paper": spec.paper,
        "license": spec.license or "unknown",
    }


def _adapter_info(reference: str, base: str | None) -> dict[str, Any]:
    from geoadapters.hub.folder import WEIGHTS, read_shapes
    from geoadapters.references import resolve_adapter

    source = resolve_adapter(reference, base)
    info: dict[str, Any] = {
        "folder": str(source.path),
        "kind": source.kind,
        "origin": source.origin,
        "base_weights": source.base_weights(),
        "loads": source.unloadable or "yes",
        "config": source.config.to_dict(),
    }
    if source.kind == "onnx":  # the graph's weights are not read: its size on disk
        return info | {"megabytes": round(source.path.stat().st_size / 1e6, 2)}
    shapes = read_shapes(source.path)
    return info | {
        "parameters": sum(math.prod(shape) for shape in shapes.values()),
        "megabytes": round((source.path / WEIGHTS).stat().st_size / 1e6, 2),
    }


def _print_adapter(info: dict[str, Any]) -> None:
    config = info["config"]
    spec = config["input"]

    def settings(part: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in part["settings"].items()) or "defaults"

    weights = f"{info['parameters']:,} parameters, " if "parameters" in info else ""
    rows = [
        ("adapter", f"{config['name'] or '(unnamed)'}  [{info['origin']}]"),
        ("base", f"{config['base']['name']}  (weights: {info['base_weights']})"),
        ("loads", info["loads"] if info["loads"] == "yes" else f"no: {info['loads']}"),
        ("method", f"{config['method']['name']}  {settings(config['method'])}"),
        ("head", f"{config['head']['name']}  {settings(config['head'])}"),
        ("task", f"{config['task']}: {', '.join(AdapterConfig.from_dict(config).classes)}"),
        ("bands", ", ".join(spec["bands"])),
        ("input", f"(value x {spec['scale']} - mean) / std; nodata {spec['nodata']}; gsd {spec['gsd']}"),
        (
            "values",
            "not recorded"
            if spec["value_range"] is None
            else "{:g} to {:g}, as stored".format(*spec["value_range"]),
        ),
        ("mean", ", ".join(f"{v:g}" for v in spec["mean"])),
        ("std", ", ".join(f"{v:g}" for v in spec["std"])),
        ("tiles", "{tile_size} px, overlap {overlap} px, batch {batch_size}".format(**config["inference"])),
        ("weights", f"{weights}{info['megabytes']} MB"),
    ]
    rows += [
        ("metrics", f"{split}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
        for split, values in config["metrics"].items()
    ]
    for key, value in rows:
        click.echo(f"{key:<8} {value}")


@click.command("info", short_help="Describe a base model or an adapter.")
@click.argument("reference")
@click.option("--model", "base", help="Base model of a short adapter name (burn_scars-lora).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info_command(reference: str, base: str | None, as_json: bool) -> None:
    """Describe REFERENCE: a base model name, or an adapter reference.

    An adapter reference is a folder, an .onnx file, the bundled model's or a published fine-tune's
    name, org/name[@revision], or <dataset>-<method> with --model.
    """
    if reference in list_models():
        info = _base_info(reference)
        if as_json:
            click.echo(json.dumps(info, indent=2))
        else:
            for key, value in info.items():
                click.echo(f"{key:<12} {', '.join(map(str, value)) if isinstance(value, list) else value}")
        return
    info = _adapter_info(reference, base)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        _print_adapter(info)
