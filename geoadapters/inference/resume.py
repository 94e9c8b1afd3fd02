"""Resume: when an existing output can be kept because it was made from the same scene by the same run.

Each class map records its source (`SOURCE_TAG`: absolute path, size and modification time of every
file of the scene; the URL of a remote one) and its run (`RUN_TAG`: a digest of the adapter's identity,
the base weights, the runtime and the options) in its tags. An output whose tags match the scene as it
is now and the run, and whose companion files exist, is up to date. An adapter is identified by the
commit it was read at when it comes from the Hub, else by its files' paths, sizes and modification
times: nothing is hashed, so checking costs a few system calls per scene.
"""

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from geoadapters.inference.jobs import SceneJob, SceneSource
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.raster.remote import gdal_path
from geoadapters.references import AdapterSource

__all__ = ["ADAPTER_TAG", "RUN_TAG", "SOURCE_TAG", "run_identity", "source_identity", "up_to_date"]

SOURCE_TAG = "geoadapters_source"
RUN_TAG = "geoadapters_run"
ADAPTER_TAG = "geoadapters_mlm"  # where the adapter's MLM description is (stac.model.mlm_link)


def _stat(path: str | Path) -> dict[str, object]:
    info = Path(path).stat()
    return {"path": os.path.abspath(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def source_identity(source: SceneSource) -> str:
    """What identifies a scene's content cheaply: absolute path, size and mtime; a URL for remote ones.

    A scene of frames: the list of its files' identities.

    Raises:
        OSError: A local file that does not exist (any more).
    """
    if not isinstance(source, str | Path):
        return json.dumps([json.loads(source_identity(f)) for f in source])
    remote = gdal_path(source)
    if remote is not None:
        return json.dumps({"path": remote}, sort_keys=True)
    return json.dumps(_stat(source), sort_keys=True)


def _adapter_identity(source: AdapterSource) -> object:
    if source.kind in ("hub", "published"):
        return source.pinned  # names the commit
    files = (
        [source.path] if source.path.is_file() else sorted(p for p in source.path.iterdir() if p.is_file())
    )
    return [_stat(file) for file in files]


def run_identity(source: AdapterSource, model: ModelRef, options: PredictOptions) -> str:
    """A digest of what makes a prediction: the adapter, the base weights, runtime and options."""
    checkpoint = None if model.checkpoint is None else _stat(model.checkpoint)
    described = dataclasses.asdict(model) | {"adapter": _adapter_identity(source), "checkpoint": checkpoint}
    text = json.dumps([described, options.identity()], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def up_to_date(job: SceneJob, run: str) -> bool:
    """Whether `job`'s class map was made from its scene as it is now by `run`; its other outputs exist."""
    import rasterio

    if not job.output.is_file() or not all(p.exists() for p in job.outputs()):
        return False
    try:
        with rasterio.open(job.output) as done:
            tags = done.tags()
        current = source_identity(job.scene)
    except (OSError, rasterio.errors.RasterioIOError):
        return False
    return bool(tags.get(SOURCE_TAG) == current and tags.get(RUN_TAG) == run)
