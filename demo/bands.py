"""The demo's band mapping: which band of an uploaded file holds each band the adapter reads.

A file whose band descriptions name the adapter's bands needs no mapping. Otherwise the page shows one
choice per band the adapter reads, proposed from the descriptions it has, else from the common band
order of files with that many bands (`geoadapters.bands.SENSOR_ORDERS`), else in file order, for the
visitor to confirm or change. The mapping is what ``bands=`` is in Python and ``--bands`` on the
command line: file band numbers in the adapter's band order.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from geoadapters.bands import BANDS, SENSOR_ORDERS, canonical
from geoadapters.errors import BandError, RasterError
from geoadapters.raster.read import resolve_bands

__all__ = ["MAX_BANDS", "FileBands", "Proposal", "mapped_bands", "propose", "read_file_bands"]

# Bands a file may have, and bands a mapping can show (one choice each); more are refused.
MAX_BANDS = 64
# A band stands in for a wanted one when their central wavelengths are this close (micrometres):
# Sentinel-2's broad NIR (B08) for the narrow one (B8A), not a red edge band for NIR.
_NEAR_UM = 0.05


@dataclass(frozen=True)
class FileBands:
    """What the demo needs to know of an upload: its bands, their descriptions and data type."""

    name: str
    descriptions: tuple[str | None, ...]
    dtype: str


@dataclass(frozen=True)
class Proposal:
    """A proposed mapping.

    Attributes:
        needed: The adapter's bands, in its order.
        choices: ``(label, number)`` of each file band, for the page's choices.
        numbers: The proposed file band for each needed band; None where none fits.
        basis: What the proposal rests on, for the page (``the band descriptions``, a sensor's order).
        automatic: The descriptions name every needed band: no mapping is needed.
    """

    needed: tuple[str, ...]
    choices: tuple[tuple[str, int], ...]
    numbers: tuple[int | None, ...]
    basis: str
    automatic: bool


def read_file_bands(path: str | Path, max_pixels: int) -> FileBands:
    """Open an upload's header only and check it is a GeoTIFF of a size the demo predicts.

    Raises:
        RasterError: Not a GeoTIFF, unreadable, more than `MAX_BANDS` bands or over `max_pixels`.
    """
    name = Path(path).name
    try:
        with rasterio.open(path) as ds:
            driver, count, height, width = ds.driver, ds.count, ds.height, ds.width
            descriptions, dtype = tuple(ds.descriptions), ds.dtypes[0] if ds.count else ""
    except (RasterioError, OSError) as err:
        raise RasterError(f"{name} is not a GeoTIFF this demo can read: upload a GeoTIFF (.tif)") from err
    if driver != "GTiff":
        raise RasterError(f"{name} is a {driver} file, not a GeoTIFF: upload a GeoTIFF (.tif)")
    if not 1 <= count <= MAX_BANDS:
        raise RasterError(f"{name} has {count} bands; this demo reads files of 1 to {MAX_BANDS} bands")
    if height * width > max_pixels:
        raise RasterError(
            f"{name} is {width} x {height} pixels; this demo predicts scenes of at most "
            f"{max_pixels / 1e6:.1f} megapixels: crop it, or run geoadapters predict"
        )
    return FileBands(name, descriptions, dtype)


def _named(descriptions: Sequence[str | None]) -> list[str | None]:
    named: list[str | None] = []
    for text in descriptions:
        try:
            named.append(canonical(text) if text else None)
        except BandError:
            named.append(None)
    return named


def _match(names: Sequence[str | None], needed: Sequence[str]) -> tuple[int | None, ...]:
    """For each needed band, the number of the file band of that name, else of the nearest wavelength."""
    numbers: list[int | None] = []
    for band in needed:
        if band in names:
            numbers.append(names.index(band) + 1)
            continue
        near = [(abs(BANDS[n] - BANDS[band]), i + 1) for i, n in enumerate(names) if n is not None]
        best = min(near, default=None)
        numbers.append(best[1] if best is not None and best[0] <= _NEAR_UM else None)
    return tuple(numbers)


def propose(file: FileBands, needed: Sequence[str]) -> Proposal:
    """The mapping to show for `file` and an adapter reading `needed` (see the module)."""
    count = len(file.descriptions)
    choices = tuple(
        (f"{i}: {text}" if text else f"band {i}", i) for i, text in enumerate(file.descriptions, start=1)
    )
    named = _named(file.descriptions)
    if any(named):
        try:
            automatic = bool(resolve_bands(file.descriptions, needed))
        except BandError:
            automatic = False
        return Proposal(tuple(needed), choices, _match(named, needed), "the band descriptions", automatic)
    if count in SENSOR_ORDERS:
        sensor, order = SENSOR_ORDERS[count]
        return Proposal(tuple(needed), choices, _match(order, needed), f"the {sensor} band order", False)
    if count == len(needed):
        return Proposal(tuple(needed), choices, tuple(range(1, count + 1)), "the file's band order", False)
    return Proposal(tuple(needed), choices, (None,) * len(needed), "nothing: pick each band", False)


def mapped_bands(needed: Sequence[str], picked: Sequence[int | str | None]) -> str:
    """The mapping as the ``bands`` text of the demo's API (``"3,2,1,4,5,6"``).

    Raises:
        BandError: A needed band has no file band picked.
    """
    missing = [band for band, number in zip(needed, picked, strict=False) if number in (None, "")]
    if missing or len(picked) < len(needed):
        missing = missing or list(needed[len(picked) :])
        raise BandError(f"pick the file band that holds {', '.join(missing)} in `bands`")
    return ",".join(str(number) for number in picked[: len(needed)])
