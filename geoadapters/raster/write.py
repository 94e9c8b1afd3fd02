"""Writing a prediction raster as a stream of row strips, published whole or not at all.

Rows go into a temporary tiled GeoTIFF next to the destination; at the end it is converted into a
Cloud-Optimised GeoTIFF (DEFLATE, internal tiles and overviews) and renamed into place. On any error
the temporary files are removed and an existing destination is left untouched.
"""

import contextlib
import json
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

__all__ = ["PredictionWriter", "class_colormap"]

_BLOCK = 512
_CLASS_NODATA = 255
# A qualitative palette (ColorBrewer Set1) for class maps.
_PALETTE = [(228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0),
            (255, 255, 51), (166, 86, 40), (247, 129, 191), (153, 153, 153)]  # fmt: skip


def class_colormap(classes: int) -> dict[int, tuple[int, int, int, int]]:
    """Colours of class values 0..classes-1 (black for class 0 of two-class maps, i.e. background)."""
    if classes == 2:
        return {0: (0, 0, 0, 255), 1: (*_PALETTE[0], 255)}
    return {i: (*_PALETTE[i % len(_PALETTE)], 255) for i in range(classes)}


class PredictionWriter:
    """Class map (uint8, nodata 255), or class + probabilities (float32, nodata NaN), as a COG.

    Args:
        path: Destination file.
        like: Open input dataset whose size, CRS and transform the output takes.
        classes: Class names in value order.
        probabilities: Also write one probability band per class (then every band is float32).
        tags: Dataset metadata (model, adapter, ...), written as GDAL tags.
        overwrite: Replace an existing destination.

    Attributes:
        class_pixels: Pixels written so far of each class (nodata pixels not counted).

    Raises:
        OutputExistsError: `path` exists and `overwrite` is False.
        RasterError: The destination folder is not writable, or there are too many classes for uint8.
    """

    def __init__(
        self,
        path: str | Path,
        like: rasterio.DatasetReader,
        *,
        classes: Sequence[str],
        probabilities: bool = False,
        tags: Mapping[str, str] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if not probabilities and len(classes) > _CLASS_NODATA:
            raise RasterError(f"{len(classes)} classes do not fit a uint8 class map; write --probabilities")
        self.classes = list(classes)
        self.probabilities = probabilities
        self.class_pixels = np.zeros(len(classes), np.int64)
        self._staging: contextlib.AbstractContextManager[Path] = staged_file(self.path, overwrite=overwrite)
        try:
            self._cog = self._staging.__enter__()
        except OutputExistsError:
            raise
        except OSError as err:
            raise RasterError(f"cannot write into {self.path.parent}: {err}") from err
        self._partial = self._cog.with_name(f"partial.{self.path.name}")
        profile = {
            "driver": "GTiff",
            "width": like.width,
            "height": like.height,
            "count": 1 + len(classes) * probabilities,
            "dtype": "float32" if probabilities else "uint8",
            "nodata": float("nan") if probabilities else _CLASS_NODATA,
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
            raise RasterError(f"cannot write into {self.path.parent}: {err}") from err
        self.dataset.set_band_description(1, "class")
        for i, name in enumerate(self.classes, start=2):
            if probabilities:
                self.dataset.set_band_description(i, f"probability of {name}")
        if not probabilities:
            self.dataset.write_colormap(1, class_colormap(len(classes)))
        self.dataset.update_tags(classes=json.dumps(self.classes), **(tags or {}))

    def write(self, row: int, logits: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> None:
        """Write scene rows starting at `row` from mean logits (classes, rows, width) and the data mask."""
        window = rasterio.windows.Window(0, row, logits.shape[2], logits.shape[1])
        labels = logits.argmax(axis=0)
        self.class_pixels += np.bincount(labels[valid], minlength=len(self.classes))
        try:
            if not self.probabilities:
                self.dataset.write(np.where(valid, labels, _CLASS_NODATA).astype(np.uint8), 1, window=window)
                return
            shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
            probabilities = shifted / shifted.sum(axis=0, keepdims=True)
            bands = np.concatenate([labels[None].astype(np.float32), probabilities.astype(np.float32)])
            self.dataset.write(np.where(valid, bands, np.nan), window=window)
        except (OSError, RasterioIOError) as err:
            raise RasterError(f"writing {self.path} failed (is the disk full?): {err}") from err

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.dataset.close()
            if kind is None:
                rasterio.shutil.copy(
                    self._partial,
                    self._cog,
                    driver="COG",
                    compress="DEFLATE",
                    blocksize=_BLOCK,
                    overview_resampling="NEAREST",
                    BIGTIFF="IF_SAFER",
                )
                self._partial.unlink()
        except BaseException as failure:
            self._staging.__exit__(type(failure), failure, failure.__traceback__)
            # rasterio's GDAL errors (CPLE_*) share no public base class beyond Exception
            gdal = type(failure).__name__.startswith("CPLE_")
            if (gdal or isinstance(failure, OSError | RasterioIOError)) and not isinstance(
                failure, OutputExistsError
            ):
                raise RasterError(f"writing {self.path} failed (is the disk full?): {failure}") from failure
            raise
        # moves the COG into place when there was no error, else removes the staging folder
        self._staging.__exit__(kind, error, tb)
