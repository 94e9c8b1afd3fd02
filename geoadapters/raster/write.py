"""Writing a prediction as a stream of row strips, published whole or not at all.

The class map is uint8 (nodata 255) with a colour table, and its class names as GDAL category names
and a raster attribute table (value, class, pixel count, colour) in the ``.aux.xml`` beside it, which
GDAL and QGIS read (QGIS shows them in the legend). Probabilities go into a separate COG
(``<stem>_proba.tif``, one band per class, uint8 percent or float32), and so does the uncertainty
(``<stem>_uncertainty.tif``: float32 1 - the largest class probability, 0 where the model is sure, at
most 1 - 1/classes where every class is equally likely; nodata NaN). Rows go into temporary tiled
GeoTIFFs next to the destinations; at the end they are converted into Cloud-Optimised GeoTIFFs
(DEFLATE, internal tiles and overviews) and renamed into place. On any error the temporary files are
removed and existing destinations are left untouched.
"""

import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioIOError

from geoadapters._staging import staged_file
from geoadapters.errors import OutputExistsError, RasterError
from geoadapters.raster.outputs import PROBABILITY_DTYPES, probability_path, uncertainty_path
from geoadapters.raster.palette import class_colors

__all__ = ["PredictionWriter"]

_BLOCK = 512
_CLASS_NODATA = 255


def _percent(probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Whole percents (classes, ...) that sum to exactly 100 per pixel (largest remainders round up)."""
    scaled = probabilities * 100
    floor = np.floor(scaled)
    short = (100 - floor.sum(axis=0)).astype(np.int64)  # 0 .. classes-1 percents left to hand out
    rank = np.argsort(np.argsort(floor - scaled, axis=0, kind="stable"), axis=0)  # 0: largest remainder
    percent: npt.NDArray[np.uint8] = (floor + (rank < short)).astype(np.uint8)
    return percent


def _aux_xml(classes: Sequence[str], colormap: Mapping[int, tuple[int, ...]], pixels: Sequence[int]) -> str:
    """GDAL PAM of band 1: category names and a thematic raster attribute table."""
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    names = ET.SubElement(band, "CategoryNames")
    for name in classes:
        ET.SubElement(names, "Category").text = name
    table = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    # GDAL's field types (0 integer, 2 string) and usages (5 MinMax, 2 Name, 1 PixelCount, 6-9 RGBA)
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Count", 0, 1), ("Red", 0, 6), ("Green", 0, 7),
              ("Blue", 0, 8), ("Alpha", 0, 9)]  # fmt: skip
    for index, (name, kind, usage) in enumerate(fields):
        field = ET.SubElement(table, "FieldDefn", index=str(index))
        for tag, text in (("Name", name), ("Type", kind), ("Usage", usage)):
            ET.SubElement(field, tag).text = str(text)
    for value, name in enumerate(classes):
        row = ET.SubElement(table, "Row", index=str(value))
        for cell in (value, name, pixels[value], *colormap[value]):
            ET.SubElement(row, "F").text = str(cell)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


class _CogStream:
    """A tiled GeoTIFF written in row strips, then converted into a COG at `path`, staged.

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
        RasterError: The destination folder is not writable.
    """

    def __init__(
        self, path: Path, like: rasterio.DatasetReader, count: int, dtype: str, nodata: float, overwrite: bool
    ) -> None:
        self.path = path
        self._staging: contextlib.AbstractContextManager[Path] = staged_file(path, overwrite=overwrite)
        try:
            self.cog = self._staging.__enter__()
        except OutputExistsError:
            raise
        except OSError as err:
            raise RasterError(f"cannot write into {path.parent}: {err}") from err
        self._partial = self.cog.with_name(f"partial.{path.name}")
        profile = {
            "driver": "GTiff",
            "width": like.width,
            "height": like.height,
            "count": count,
            "dtype": dtype,
            "nodata": nodata,
            "crs": like.crs,
            "transform": like.transform,
            "tiled": True,
            "blockxsize": _BLOCK,
            "blockysize": _BLOCK,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        try:
            self.dataset = rasterio.open(self._partial, "w", **profile)
        except (OSError, RasterioIOError) as err:
            self._staging.__exit__(type(err), err, err.__traceback__)
            raise RasterError(f"cannot write into {path.parent}: {err}") from err

    def finish(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
        aux: str | None = None,
    ) -> None:
        """Convert and publish when there was no error (`kind` None), `aux` as its .aux.xml; else discard."""
        try:
            self.dataset.close()
            if kind is None:
                rasterio.shutil.copy(
                    self._partial,
                    self.cog,
                    driver="COG",
                    compress="DEFLATE",
                    blocksize=_BLOCK,
                    overview_resampling="NEAREST",
                    BIGTIFF="IF_SAFER",
                )
                for leftover in self.cog.parent.glob(f"{self._partial.name}*"):
                    leftover.unlink()
                if aux is not None:  # after the copy, which deletes an existing .aux.xml
                    self.cog.with_name(f"{self.cog.name}.aux.xml").write_text(aux)
        except BaseException as failure:
            self._staging.__exit__(type(failure), failure, failure.__traceback__)
            # rasterio's GDAL errors (CPLE_*) share no public base class beyond Exception
            gdal = type(failure).__name__.startswith("CPLE_")
            if (gdal or isinstance(failure, OSError | RasterioIOError)) and not isinstance(
                failure, OutputExistsError
            ):
                raise RasterError(f"writing {self.path} failed (is the disk full?): {failure}") from failure
            raise
        # moves the COG (and its .aux.xml) into place when there was no error, else removes them
        self._staging.__exit__(kind, error, tb)


class PredictionWriter:
    """Class map (uint8, nodata 255) as a COG with colours and class names; probabilities beside it.

    Args:
        path: Destination file.
        like: Open input dataset whose size, CRS and transform the output takes.
        classes: Class names in value order.
        colors: Class colours (``#rrggbb``); default a palette.
        probabilities: Also write `probability_path` (path): ``uint8`` percent or ``float32``; None: not.
        uncertainty: Also write `uncertainty_path` (path): 1 - the largest probability, float32.
        tags: Dataset metadata (model, adapter, ...), written as GDAL tags.
        overwrite: Replace existing destinations.

    Attributes:
        class_pixels: Pixels written so far of each class (nodata pixels not counted).

    Raises:
        OutputExistsError: A destination exists and `overwrite` is False.
        RasterError: The destination folder is not writable, or there are too many classes for uint8.
    """

    def __init__(
        self,
        path: str | Path,
        like: rasterio.DatasetReader,
        *,
        classes: Sequence[str],
        colors: Sequence[str] = (),
        probabilities: str | None = None,
        uncertainty: bool = False,
        tags: Mapping[str, str] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if len(classes) > _CLASS_NODATA:
            raise RasterError(f"{len(classes)} classes do not fit a uint8 class map (at most 255)")
        if probabilities is not None and probabilities not in PROBABILITY_DTYPES:
            raise ValueError(f"probabilities must be one of {PROBABILITY_DTYPES}, got {probabilities!r}")
        self.classes = list(classes)
        self.probabilities = probabilities
        self.class_pixels = np.zeros(len(classes), np.int64)
        self._colormap = dict(enumerate(class_colors(classes, colors)))
        tags = {"classes": json.dumps(self.classes), **(tags or {})}
        self._map = _CogStream(self.path, like, 1, "uint8", _CLASS_NODATA, overwrite)
        self._map.dataset.set_band_description(1, "class")
        self._map.dataset.write_colormap(1, self._colormap)
        self._map.dataset.update_tags(**tags)
        self._proba: _CogStream | None = None
        self._uncertainty: _CogStream | None = None
        try:
            if probabilities is not None:
                nodata = _CLASS_NODATA if probabilities == "uint8" else float("nan")
                self._proba = _CogStream(
                    probability_path(self.path), like, len(classes), probabilities, nodata, overwrite
                )
                for i, name in enumerate(self.classes, start=1):
                    unit = "%" if probabilities == "uint8" else "0-1"
                    self._proba.dataset.set_band_description(i, f"probability of {name} ({unit})")
                self._proba.dataset.update_tags(**tags)
            if uncertainty:
                self._uncertainty = _CogStream(
                    uncertainty_path(self.path), like, 1, "float32", float("nan"), overwrite
                )
                self._uncertainty.dataset.set_band_description(1, "uncertainty (1 - largest probability)")
                self._uncertainty.dataset.update_tags(**tags)
        except BaseException as err:
            for stream in (self._proba, self._map):
                if stream is not None:
                    stream.finish(type(err), err, err.__traceback__)
            raise

    def write(
        self,
        row: int,
        logits: npt.NDArray[np.float32],
        valid: npt.NDArray[np.bool_],
        confidence: bool = False,
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64] | None]:
        """Write scene rows from `row` on, from mean logits (classes, rows, width) and the data mask.

        Returns:
            The class values written (rows, width), 255 where there is no data, and with `confidence`
            each pixel's confidence: 1 - its uncertainty as written (NaN where there is no data).
        """
        window = rasterio.windows.Window(0, row, logits.shape[2], logits.shape[1])
        labels = logits.argmax(axis=0)
        self.class_pixels += np.bincount(labels[valid], minlength=len(self.classes))
        written = np.where(valid, labels, _CLASS_NODATA).astype(np.uint8)
        sure = None
        try:
            self._map.dataset.write(written, 1, window=window)
            if self._proba is not None or self._uncertainty is not None or confidence:
                shifted = np.exp((logits - logits.max(axis=0, keepdims=True)).astype(np.float64))
                probabilities = shifted / shifted.sum(axis=0, keepdims=True)
            if self._uncertainty is not None or confidence:
                doubt = np.where(valid, 1 - probabilities.max(axis=0), np.nan).astype(np.float32)
                sure = 1 - doubt.astype(np.float64)
                if self._uncertainty is not None:
                    self._uncertainty.dataset.write(doubt, 1, window=window)
            if self._proba is not None:
                if self.probabilities == "uint8":
                    bands = np.where(valid, _percent(probabilities), _CLASS_NODATA).astype(np.uint8)
                else:
                    bands = np.where(valid, probabilities, np.nan).astype(np.float32)
                self._proba.dataset.write(bands, window=window)
        except (OSError, RasterioIOError) as err:
            raise RasterError(f"writing {self.path} failed (is the disk full?): {err}") from err
        return written, sure

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        failure: BaseException | None = None  # the first error of a companion: the rest are discarded
        for stream in (self._uncertainty, self._proba):
            if stream is not None:
                try:
                    if failure is None:
                        stream.finish(kind, error, tb)
                    else:
                        stream.finish(type(failure), failure, failure.__traceback__)
                except BaseException as err:
                    failure = failure or err
        if failure is not None:
            self._map.finish(type(failure), failure, failure.__traceback__)
            raise failure
        self._map.finish(kind, error, tb, _aux_xml(self.classes, self._colormap, self.class_pixels.tolist()))
