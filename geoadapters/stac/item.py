"""STAC Items of predictions (``<stem>.stac.json`` beside the class map) and a Collection of a batch.

An Item records what a prediction made and from what: its footprint (WGS84) and grid (projection
extension: code, shape, transform), the acquisition date when the scene has one (else the time of the
prediction), the software and settings (processing extension: software, lineage, the run's options),
links to the input scene, to the adapter's MLM description and to the base weights with their
revisions, and an asset per output (class map with its classes, probabilities, uncertainty, polygons,
area tables; file sizes; raster bands' data type and nodata). Hrefs of outputs are relative to the
Item, which sits beside them. Plain JSON, written whole or not at all.
"""

import dataclasses
import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geoadapters._staging import staged_file
from geoadapters.config import AdapterConfig
from geoadapters.errors import RasterError
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.request import PredictOptions
from geoadapters.raster.remote import gdal_path
from geoadapters.specs import SceneMetadata
from geoadapters.stac.model import STAC_VERSION, hub_url, stac_classes
from geoadapters.version import __version__

if TYPE_CHECKING:
    from geoadapters.inference.predict import PredictReport
    from geoadapters.inference.results import ManyReport

__all__ = ["ITEM_EXTENSIONS", "prediction_item", "write_collection", "write_prediction_item"]

ITEM_EXTENSIONS = {
    "projection": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
}
_COG = "image/tiff; application=geotiff; profile=cloud-optimized"
_VECTOR_TYPES = {
    ".gpkg": "application/geopackage+sqlite3",
    ".geojson": "application/geo+json",
    ".json": "application/geo+json",
    ".parquet": "application/vnd.apache.parquet",
}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _href(path: str | Path) -> str:
    """A link to an input: its URL as given, or the absolute file URI of a local file."""
    if gdal_path(path) is not None:
        return str(path)
    return Path(path).resolve().as_uri()


def _asset(
    path: Path, item_folder: Path, kind: str, roles: list[str], title: str, **fields: Any
) -> dict[str, Any]:
    href = path.name if path.parent.resolve() == item_folder.resolve() else path.resolve().as_uri()
    return {"href": f"./{href}" if "/" not in href else href, "type": kind, "title": title, "roles": roles,
            "file:size": path.stat().st_size, **fields}  # fmt: skip


def prediction_item(
    job: SceneJob,
    report: "PredictReport",
    config: AdapterConfig,
    options: PredictOptions,
    described: SceneMetadata,
    like: Any,
    mlm: str,
) -> dict[str, Any]:
    """The STAC Item of a prediction whose outputs are written.

    Args:
        job: The scene and its outputs.
        report: What the prediction did.
        config: The adapter's config.
        options: How it predicted.
        described: The scene's metadata as the model saw it (its dates).
        like: The open scene (its grid and CRS).
        mlm: Where the adapter's MLM description is (`geoadapters.stac.model.mlm_link`); "": no link.
    """
    from rasterio.warp import transform_geom

    folder = job.output.parent
    west, south, east, north = like.bounds
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    footprint = transform_geom(like.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    xs = [x for x, _ in footprint["coordinates"][0]]
    ys = [y for _, y in footprint["coordinates"][0]]
    date = next((d for d in described.dates if d is not None), None)
    assets = {
        "class_map": _asset(
            job.output, folder, _COG, ["data"], "class map (uint8, nodata 255)",
            **{"classification:classes": stac_classes(config),
               "raster:bands": [{"nodata": 255, "data_type": "uint8"}]},
        )
    }  # fmt: skip
    if report.probabilities is not None:
        dtype = options.probability_dtype
        bands = [{"nodata": 255 if dtype == "uint8" else "nan", "data_type": dtype}] * len(config.classes)
        unit = "percent" if dtype == "uint8" else "0 to 1"
        assets["probabilities"] = _asset(
            report.probabilities, folder, _COG, ["data"], f"class probabilities ({unit}), a band per class",
            **{"raster:bands": bands},
        )  # fmt: skip
    if report.uncertainty is not None:
        assets["uncertainty"] = _asset(
            report.uncertainty, folder, _COG, ["data"], "uncertainty: 1 - the largest class probability",
            **{"raster:bands": [{"nodata": "nan", "data_type": "float32"}]},
        )  # fmt: skip
    if report.vector is not None:
        kind = _VECTOR_TYPES.get(report.vector.suffix.lower(), "application/octet-stream")
        assets["vectors"] = _asset(report.vector, folder, kind, ["data"], "class polygons (cleaned)")
    if report.areas is not None:
        table, summary = report.areas
        assets["areas"] = _asset(table, folder, "text/csv", ["metadata"], "ground area of each class")
        assets["areas_json"] = _asset(summary, folder, "application/json", ["metadata"], "ground areas")
    base = config.base
    settings = {k: v for k, v in dataclasses.asdict(options).items() if v not in (None, False)}
    links = [
        {"rel": "derived_from", "href": _href(job.source), "title": "input scene"},
        {"rel": "derived_from", "href": hub_url(base.repo_id, base.revision, base.filename),
         "title": f"base weights {base.name} at {base.revision}"},
    ]  # fmt: skip
    links += [
        {"rel": "derived_from", "href": _href(f), "title": f"input frame {i}"}
        for i, f in enumerate(job.frames[1:], 2)
    ]
    if mlm:
        title = f"adapter {config.name or 'unnamed'} (MLM)"
        links.append({"rel": "ml-model", "href": mlm, "type": "application/json", "title": title})
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(ITEM_EXTENSIONS.values()),
        "id": job.output.stem,
        "geometry": footprint,
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "properties": {
            "datetime": f"{date.isoformat()}T00:00:00Z" if date else _now(),
            "created": _now(),
            "proj:code": like.crs.to_string() if like.crs.to_epsg() else None,
            "proj:wkt2": None if like.crs.to_epsg() else like.crs.to_wkt(),
            "proj:shape": [like.height, like.width],
            "proj:transform": list(like.transform)[:6],
            "processing:software": {"geoadapters": __version__},
            "processing:lineage": (
                f"geoadapters predict: {config.method.name} adapter {config.name or 'unnamed'} with a "
                f"{config.head.name} head on {base.name} ({base.repo_id}@{base.revision}); {report.runner}; "
                f"{report.computed} of {report.tiles} tiles computed"
            ),
            "geoadapters:settings": json.loads(json.dumps(settings, default=str)),
            "geoadapters:class_area_m2": dict(report.class_area_m2),
        },
        "links": links,
        "assets": assets,
    }


def write_prediction_item(
    job: SceneJob,
    report: "PredictReport",
    config: AdapterConfig,
    options: PredictOptions,
    described: SceneMetadata,
    like: Any,
    mlm: str,
    overwrite: bool,
) -> Path:
    """Write `prediction_item` to the job's ``<stem>.stac.json``, whole or not at all.

    Raises:
        OutputExistsError: It exists and `overwrite` is False.
        RasterError: Its folder is not writable.
    """
    path = job.stac_output
    assert path is not None
    item = prediction_item(job, report, config, options, described, like, mlm)
    return _write_json(path, item, overwrite)


def _write_json(path: Path, content: Mapping[str, Any], overwrite: bool) -> Path:
    try:
        with staged_file(path, overwrite=overwrite) as staged:
            staged.write_text(json.dumps(content, indent=2) + "\n")
    except OSError as err:
        if isinstance(err, FileExistsError):
            raise
        raise RasterError(f"cannot write {path}: {err}") from err
    return path


def write_collection(report: "ManyReport", path: str | Path, *, overwrite: bool = False) -> Path:
    """A STAC Collection of the Items a batch wrote (`predict_many` with ``stac``), as ``path``.

    Its extent is the union of the Items' footprints and dates; each Item is linked as a child
    ``item``. Scenes without an Item (failed, or skipped without one) are left out.

    Raises:
        RasterError: No scene of the batch has an Item, or the file cannot be written.
        OutputExistsError: `path` exists and `overwrite` is False.
    """
    path = Path(path)
    items = []
    for result in report.results:
        if result.stac is not None and Path(result.stac).is_file():
            items.append((Path(result.stac), json.loads(Path(result.stac).read_text())))
    if not items:
        raise RasterError("no scene of the batch has a STAC Item: nothing to collect")
    boxes = [item["bbox"] for _, item in items]
    dates = sorted(item["properties"]["datetime"] for _, item in items)
    collection = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": path.parent.resolve().name or "predictions",
        "description": f"{len(items)} predictions of geoadapters {__version__}",
        "license": "other",
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    ]
                ]
            },
            "temporal": {"interval": [[dates[0], dates[-1]]]},
        },
        "links": [
            {"rel": "item", "href": _relative(item_path, path.parent), "type": "application/geo+json"}
            for item_path, _ in items
        ],
    }
    return _write_json(path, collection, overwrite)


def _relative(path: Path, folder: Path) -> str:
    try:
        return f"./{path.resolve().relative_to(folder.resolve()).as_posix()}"
    except ValueError:
        return path.resolve().as_uri()
