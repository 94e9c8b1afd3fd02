"""Scenes as jobs: what each scene is read from and which files it writes, planned before anything runs.

A scene is one file (a path, URL or GDAL network path) or, for a model of several frames, the files of
its frames. Its class map is ``<stem>_pred.tif`` beside it or in an output folder, and the files beside
it (probabilities, polygons) follow from the class map's name. Planning refuses, for the whole run, two
scenes that would write one file and an output that is one of the inputs (the same file, a hard link
or a symlink). Plain paths, no torch or rasterio.
"""

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geoadapters._staging import check_name
from geoadapters.errors import OutputExistsError, RasterError
from geoadapters.raster.outputs import (
    areas_paths,
    default_output,
    labelled,
    probability_path,
    uncertainty_path,
)
from geoadapters.raster.remote import gdal_path

__all__ = ["VECTOR_FORMATS", "SceneJob", "SceneSource", "check_outputs", "expand_scenes", "plan_jobs"]

# A scene: one file (path, URL, GDAL path), or the files of its frames for a model of several frames.
SceneSource = str | Path | Sequence[str | Path]
VECTOR_FORMATS = ("gpkg", "geojson", "parquet")


@dataclass(frozen=True)
class SceneJob:
    """One scene to predict and the files it writes.

    Attributes:
        frames: The scene's files: the one file, or one per frame in time order.
        output: Its class map.
        vector: Its polygon file, if asked for.
        probabilities: Whether it writes a probability COG beside the class map.
        uncertainty: Whether it writes an uncertainty COG beside the class map.
        areas: Whether it writes the class areas (CSV and JSON) beside the class map.
        stac: Whether it writes a STAC Item beside the class map.
    """

    frames: tuple[str | Path, ...]
    output: Path
    vector: Path | None = None
    probabilities: bool = False
    uncertainty: bool = False
    areas: bool = False
    stac: bool = False

    @property
    def source(self) -> str | Path:
        """The scene's (first) file: what names it in messages and reports."""
        return self.frames[0]

    @property
    def scene(self) -> str | Path | list[str | Path]:
        """What `predict_raster` and `Scene` take: the file, or the frames' files."""
        return list(self.frames) if len(self.frames) > 1 else self.frames[0]

    @property
    def name(self) -> str:
        """The scene's file name, for progress bars."""
        return PurePosixPath(str(self.source)).name

    @property
    def probability_output(self) -> Path | None:
        """The probability COG, if asked for."""
        return probability_path(self.output) if self.probabilities else None

    @property
    def uncertainty_output(self) -> Path | None:
        """The uncertainty COG, if asked for."""
        return uncertainty_path(self.output) if self.uncertainty else None

    @property
    def areas_output(self) -> tuple[Path, Path] | None:
        """The class areas (CSV, JSON), if asked for."""
        return areas_paths(self.output) if self.areas else None

    @property
    def stac_output(self) -> Path | None:
        """The STAC Item, if asked for."""
        return self.output.with_name(f"{self.output.stem}.stac.json") if self.stac else None

    def outputs(self) -> list[Path]:
        """Every file the job writes: the class map, then those beside it that were asked for."""
        extras = [self.probability_output, self.uncertainty_output, self.vector, *(self.areas_output or ())]
        return [self.output, *(path for path in [*extras, self.stac_output] if path is not None)]


def expand_scenes(patterns: Sequence[str]) -> list[Path | str]:
    """Scene paths of command-line arguments: glob patterns expanded, URLs and GDAL paths as they are.

    Raises:
        RasterError: A pattern matches no file.
    """
    paths: list[Path | str] = []
    for pattern in patterns:
        if gdal_path(pattern) is not None:
            paths.append(pattern)
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise RasterError(f"no file matches {pattern!r}")
        paths += [Path(m) for m in matches]
    return paths


def _identity(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of an existing path (hard links and symlinks share it), else None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _class_map(source: str | Path, output: str | Path | None, many: bool, label: str | None) -> Path:
    if output is None:
        return default_output(source, label=label)
    output = Path(output)
    check_name(output)
    if output.suffix and output.suffix.lower() not in (".tif", ".tiff") and not output.is_dir():
        raise RasterError(f"output {output}: outputs are GeoTIFFs; give a .tif file or a folder")
    if many or output.is_dir() or not output.suffix:
        return default_output(source, output, label)
    return labelled(output, label)


def _vector(class_map: Path, vector: str | Path | None, many: bool, label: str | None) -> Path | None:
    if vector is None:
        return None
    if str(vector).lower() in VECTOR_FORMATS:
        return class_map.with_suffix(f".{str(vector).lower()}")
    if many:
        raise RasterError(
            f"vector {vector}: with several scenes give a format ({', '.join(VECTOR_FORMATS)}), not one file"
        )
    return labelled(vector, label)


def plan_jobs(
    sources: Sequence[SceneSource],
    output: str | Path | Sequence[str | Path] | None = None,
    *,
    vector: str | Path | Sequence[str | Path | None] | None = None,
    probabilities: bool = False,
    uncertainty: bool = False,
    areas: bool = False,
    stac: bool = False,
    label: str | None = None,
) -> list[SceneJob]:
    """The jobs of the scenes, their outputs checked against each other and against the inputs.

    Args:
        sources: Scenes: files, or for a model of several frames the frames' files of each (a list).
        output: A folder (``<stem>_pred.tif`` of each scene in it), one class map file (one scene),
            one file per scene, or None (beside each scene).
        vector: A format name (``gpkg``, ``geojson``, ``parquet``: ``<class map stem>.<format>``), one
            file (one scene), or one file (or None) per scene.
        probabilities: The jobs also write probabilities.
        uncertainty: The jobs also write uncertainty.
        areas: The jobs also write class areas.
        stac: The jobs also write STAC Items.
        label: The adapter's label when a run has several (`geoadapters.raster.outputs.adapter_label`):
            its class maps are ``<stem>_<label>_pred.tif``, and a file given is ``<stem>_<label>.tif``.

    Raises:
        RasterError: An output that is not a GeoTIFF, or one of the inputs; one vector file for many
            scenes.
        OutputExistsError: Two scenes would write one file.
        ValueError: As many outputs or vector files as scenes are needed when lists are given.
    """
    scenes = [(s,) if isinstance(s, str | Path) else tuple(s) for s in sources]
    many = len(scenes) > 1
    if isinstance(output, str | Path) or output is None:
        targets = [_class_map(scene[0], output, many, label) for scene in scenes]
    elif len(output) != len(scenes):
        raise ValueError(f"{len(output)} outputs for {len(scenes)} scenes")
    else:
        targets = [labelled(o, label) for o in output]
    if vector is None or isinstance(vector, str | Path):
        vectors = [_vector(target, vector, many, label) for target in targets]
    elif len(vector) != len(scenes):
        raise ValueError(f"{len(vector)} vector files for {len(scenes)} scenes")
    else:
        vectors = [None if v is None else labelled(v, label) for v in vector]
    jobs = [
        SceneJob(scene, target, vec, probabilities, uncertainty, areas, stac)
        for scene, target, vec in zip(scenes, targets, vectors, strict=True)
    ]
    check_outputs(jobs)
    return jobs


def check_outputs(jobs: Sequence[SceneJob]) -> None:
    """Refuse outputs that two jobs would write, and outputs that are one of the jobs' inputs.

    Raises:
        OutputExistsError: Two jobs would write one file.
        RasterError: An output is an input (the same file, a hard link or a symlink).
    """
    seen: dict[str, str | Path] = {}
    inputs = {_identity(f): f for job in jobs for f in job.frames} | {None: Path()}
    for job in jobs:
        for path in job.outputs():
            key = os.path.normcase(os.path.abspath(path))
            if key in seen:
                raise OutputExistsError(
                    f"{seen[key]} and {job.source} would both be written to {path}; predict them into "
                    "separate folders or rename one"
                )
            seen[key] = job.source
            hit = _identity(path)
            if hit is not None and hit in inputs:
                raise RasterError(
                    f"the output {path} is the input scene {inputs[hit]} itself: give another output"
                )
