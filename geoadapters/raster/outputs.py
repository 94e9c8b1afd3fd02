"""The files a prediction writes and how: names beside the class map, dtypes, how polygons are cleaned.

Plain rules and data (no rasterio), shared by the writers and by the planning of a run.
"""

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from geoadapters.raster.remote import gdal_path

__all__ = [
    "AREA_UNITS",
    "PROBABILITY_DTYPES",
    "VectorOptions",
    "adapter_label",
    "areas_paths",
    "default_output",
    "labelled",
    "probability_path",
    "uncertainty_path",
]

# probabilities uint8: percent (0-100, summing to 100 per pixel, nodata 255); float32: 0-1, nodata NaN
PROBABILITY_DTYPES = ("uint8", "float32")
# Units of VectorOptions' areas: square metres on the ground, or pixels.
AREA_UNITS = ("m2", "px")


@dataclass(frozen=True)
class VectorOptions:
    """How class polygons are cleaned (`geoadapters.raster.polygons`).

    Attributes:
        simplify: Tolerance in pixels of the simplification (about the largest distance a boundary
            moves); boundaries shared by neighbouring polygons are simplified once, so no gap or
            overlap appears. 0: the pixel outlines as they are.
        min_area: Polygons smaller than this (after their holes are filled) are left out; 0: none.
        fill_holes: Holes smaller than this are filled, and what lay in them is left out; 0: none.
        area_unit: Unit of `min_area` and `fill_holes`: ``m2`` (ground area) or ``px`` (pixels).
        classes: Names of the classes whose polygons are written; None: every class.

    Raises:
        ValueError: A negative or infinite number, or an unknown unit.
    """

    simplify: float = 1.0
    min_area: float = 0.0
    fill_holes: float = 0.0
    area_unit: str = "m2"
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("simplify", "min_area", "fill_holes"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of at least 0, got {value}")
        if self.area_unit not in AREA_UNITS:
            raise ValueError(f"area_unit must be one of {', '.join(AREA_UNITS)}, got {self.area_unit!r}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))


def default_output(source: str | Path, folder: str | Path | None = None, label: str | None = None) -> Path:
    """``<stem>_pred.tif`` next to the source, or in `folder`; a remote source's in the current folder.

    With a `label` (one adapter of several), ``<stem>_<label>_pred.tif``.
    """
    tail = "_pred.tif" if label is None else f"_{label}_pred.tif"
    if gdal_path(source) is not None:  # a URL's "parent" is no local folder
        return Path(folder or ".") / f"{PurePosixPath(str(source).split('?')[0]).stem}{tail}"
    source = Path(source)
    return Path(folder or source.parent) / f"{source.stem}{tail}"


def adapter_label(reference: str) -> str:
    """The label of an adapter reference in output names: its last name, without revision or suffix.

    ``geoadapters/prithvi-300-burn_scars-lora@v1`` -> ``prithvi-300-burn_scars-lora``,
    ``adapters/floods/`` -> ``floods``, ``model.onnx`` -> ``model``; characters other than letters,
    digits, ``-``, ``_`` and ``.`` become ``-``.
    """
    name = PurePosixPath(reference.replace("\\", "/").rstrip("/").split("@")[0]).name
    name = name.removesuffix(".onnx")
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "adapter"


def labelled(path: str | Path, label: str | None) -> Path:
    """A file given for one adapter of several, named for its `label`: ``<stem>_<label><suffix>``."""
    path = Path(path)
    return path if label is None else path.with_name(f"{path.stem}_{label}{path.suffix}")


def probability_path(output: str | Path) -> Path:
    """``<stem>_proba.tif`` beside a class map ``<stem>.tif``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_proba{output.suffix or '.tif'}")


def uncertainty_path(output: str | Path) -> Path:
    """``<stem>_uncertainty.tif`` beside a class map ``<stem>.tif``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_uncertainty{output.suffix or '.tif'}")


def areas_paths(output: str | Path) -> tuple[Path, Path]:
    """``<stem>_areas.csv`` and ``<stem>_areas.json`` beside a class map ``<stem>.tif``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_areas.csv"), output.with_name(f"{output.stem}_areas.json")
