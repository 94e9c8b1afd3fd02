"""The files a prediction writes, by name: the class map, the probability COG beside it, their dtypes.

Plain path rules (no rasterio), shared by the writer and by the planning of a run.
"""

from pathlib import Path, PurePosixPath

from geoadapters.raster.remote import gdal_path

__all__ = ["PROBABILITY_DTYPES", "default_output", "probability_path"]

# probabilities uint8: percent (0-100, summing to 100 per pixel, nodata 255); float32: 0-1, nodata NaN
PROBABILITY_DTYPES = ("uint8", "float32")


def default_output(source: str | Path, folder: str | Path | None = None) -> Path:
    """``<stem>_pred.tif`` next to the source, or in `folder`; a remote source's in the current folder."""
    if gdal_path(source) is not None:  # a URL's "parent" is no local folder
        return Path(folder or ".") / f"{PurePosixPath(str(source).split('?')[0]).stem}_pred.tif"
    source = Path(source)
    return Path(folder or source.parent) / f"{source.stem}_pred.tif"


def probability_path(output: str | Path) -> Path:
    """``<stem>_proba.tif`` beside a class map ``<stem>.tif``."""
    output = Path(output)
    return output.with_name(f"{output.stem}_proba{output.suffix or '.tif'}")
