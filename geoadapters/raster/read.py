"""Opening an input scene and reading the bands a model needs, tile by tile.

Bands are matched by name: from the file's band descriptions, or from names the user gives for the
file's bands; or picked by number. Reads are windowed, so memory does not depend on the scene size.
Pixels without data are reported in a mask and filled with a value that normalises to 0: the file's own
masks (per-band nodata values, internal mask bands, alpha), or the value given with `nodata`, and NaN.
Scenes come from strangers: only regular files are opened, and `geotiff_only` refuses every format but
GeoTIFF (a VRT can point GDAL at any file the process may read). URLs and GDAL network paths are read
through GDAL's virtual file systems (`geoadapters.raster.remote`), never as local paths.
"""

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterBlockError, RasterioIOError
from rasterio.windows import Window

from geoadapters.bands import band_indices, canonical_bands
from geoadapters.errors import BandError, GeoAdaptersError, RasterError
from geoadapters.raster.remote import REMOTE_OPTIONS, gdal_path
from geoadapters.raster.stac import is_stac_item, stac_vrt

__all__ = ["Scene", "prepare_tile", "resolve_bands"]


def resolve_bands(
    descriptions: Sequence[str | None], needed: Sequence[str], bands: Sequence[str] | None = None
) -> list[int]:
    """1-based numbers of the file bands that hold the `needed` bands, in their order.

    Args:
        descriptions: The file's band descriptions (None where missing).
        needed: Canonical bands the model reads.
        bands: Either numbers of the file bands to use for `needed`, in order ("2,3,4,..."), or the
            names of all the file's bands in file order. None: use the descriptions, or take the file's
            bands in order if they are exactly as many as needed.

    Raises:
        BandError: The bands cannot be matched; the message says how to name or pick them.
    """
    count = len(descriptions)
    hint = (
        f"Name the file's {count} bands with --bands NAME,NAME,... or pick the {len(needed)} the model "
        f"needs by number with --bands N,N,..."
    )
    if bands is not None:
        if all(str(b).strip().isdigit() for b in bands):
            numbers = [int(b) for b in bands]
            if len(numbers) != len(needed):
                raise BandError(
                    f"--bands picks {len(numbers)} bands; the model needs {len(needed)}: {', '.join(needed)}"
                )
            outside = [n for n in numbers if not 1 <= n <= count]
            if outside:
                raise BandError(f"band number(s) {outside} do not exist: the file has bands 1 to {count}")
            _check_picked(descriptions, numbers, needed)
            return numbers
        if len(bands) != count:
            raise BandError(f"--bands names {len(bands)} bands but the file has {count}. {hint}")
        return [i + 1 for i in band_indices(bands, needed)]
    try:
        named = canonical_bands([d or "" for d in descriptions])
    except BandError:
        named = None
    if named is not None:
        return [i + 1 for i in band_indices(named, needed)]
    if count == len(needed):
        return list(range(1, count + 1))
    raise BandError(
        f"the file has {count} bands without usable descriptions; the model needs {len(needed)}: "
        f"{', '.join(needed)}. {hint}"
    )


def _check_picked(descriptions: Sequence[str | None], numbers: list[int], needed: Sequence[str]) -> None:
    """Refuse band numbers whose bands the file describes as other bands than the model's."""
    try:
        named = canonical_bands([descriptions[n - 1] or "" for n in numbers])
    except BandError:
        return  # bands without usable descriptions: the numbers are all there is
    wrong = [
        f"{n} is {descriptions[n - 1]!r} ({got}), not {want}"
        for n, got, want in zip(numbers, named, needed, strict=True)
        if got != want
    ]
    if wrong:
        raise BandError(
            f"--bands contradicts the file's band descriptions: band {'; band '.join(wrong)}. "
            f"Pick the bands the descriptions name, or leave out --bands"
        )


def prepare_tile(
    raw: npt.NDArray[np.float32],
    nodata: float | None,
    fill: npt.NDArray[np.float32],
    size: int,
    masks: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """A window's values with nodata and NaN filled, mirrored up to (size x size), and its data mask.

    A pixel has data where every band is finite and, per `masks` (GDAL's per-band masks: nodata, mask
    bands, alpha) where given, else where no band equals `nodata`.

    Returns:
        Raw values (bands, size, size) float32 and the mask (size, size) of pixels with data (False in
        the padding).
    """
    valid: npt.NDArray[np.bool_] = np.asarray(np.isfinite(raw).all(axis=0), dtype=np.bool_)
    if masks is not None:
        valid &= (masks > 0).all(axis=0)
    elif nodata is not None and not np.isnan(nodata):
        valid &= (raw != np.float32(nodata)).all(axis=0)
    raw = np.where(valid, raw, fill[:, None, None]).astype(np.float32, copy=False)
    pad = ((0, 0), (0, max(0, size - raw.shape[1])), (0, max(0, size - raw.shape[2])))
    if pad[1][1] or pad[2][1]:
        raw = np.pad(raw, pad, mode="symmetric")
        valid = np.pad(valid, pad[1:], constant_values=False)
    return raw, valid


class Scene:
    """An input raster, open for reading the model's bands in windows.

    Args:
        path: GeoTIFF (or any raster GDAL reads).
        needed: Canonical bands the model reads, in order.
        bands: See `resolve_bands`.
        nodata: Nodata value overriding the file's masks.
        geotiff_only: Open GeoTIFFs (and COGs) only, refusing VRTs and every other format.

    Raises:
        RasterError: Missing, no regular file, empty, unreadable, another format than GeoTIFF with
            `geotiff_only`, not georeferenced, or of a non-numeric type.
        BandError: The bands cannot be matched.
    """

    def __init__(
        self,
        path: str | Path,
        needed: Sequence[str],
        *,
        bands: Sequence[str] | None = None,
        nodata: float | None = None,
        geotiff_only: bool = False,
    ) -> None:
        stac = is_stac_item(path)
        remote = gdal_path(path)
        self.path: Path | str = str(path) if remote or stac else Path(path)
        # GDAL's remote options hold while the scene is open: an Env per read would drop GDAL's cache
        self._env = contextlib.ExitStack()
        if remote or stac:
            self._env.enter_context(rasterio.Env(**REMOTE_OPTIONS))
        try:
            if stac:  # its band assets, stacked in a VRT held in memory
                xml, _ = stac_vrt(path, needed, geotiff_only)
                remote = self._env.enter_context(rasterio.MemoryFile(xml.encode(), ext=".vrt")).name
                geotiff_only = False  # the assets were checked; the VRT is ours
            self._open(remote, geotiff_only, needed, bands)
        except BaseException:
            self._env.close()
            raise
        self.nodata = nodata  # None: the file's masks
        self.source = self.dataset  # the file; `dataset` is what tiles are read from

    def _open(
        self, remote: str | None, geotiff_only: bool, needed: Sequence[str], bands: Sequence[str] | None
    ) -> None:
        """Open the file (`remote`: its GDAL path) and find the model's bands in it."""
        if isinstance(self.path, Path):
            if not self.path.is_file():
                exists = self.path.exists()
                raise RasterError(f"{self.path}: {'not a regular file' if exists else 'no such file'}")
            if self.path.stat().st_size == 0:
                raise RasterError(f"{self.path} is empty (0 bytes)")
        try:
            with warnings.catch_warnings():  # a missing georeference is reported below as an error
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.dataset = rasterio.open(remote or self.path, driver="GTiff" if geotiff_only else None)
        except RasterioIOError as err:
            if geotiff_only and not remote:
                raise RasterError(f"{self.path} is not a GeoTIFF (only GeoTIFF inputs are accepted)") from err
            reason = " ".join(str(err).split())[:200]
            what = "cannot be read" if remote else "is not a raster GDAL can read (corrupt or unsupported)"
            raise RasterError(f"{self.path} {what}: {reason}") from err
        try:
            self._check()
            self.indexes = resolve_bands(self.dataset.descriptions, needed, bands)
        except GeoAdaptersError:
            self.dataset.close()
            raise

    def resample(self, gsd: float, pixel_size: float) -> None:
        """Read tiles from a warped VRT of the file at `gsd` metres per pixel (bilinear), windowed.

        Args:
            gsd: Pixel size to read at, in metres.
            pixel_size: The file's pixel size in metres.
        """
        from rasterio.enums import Resampling
        from rasterio.transform import Affine
        from rasterio.vrt import WarpedVRT

        src = self.source
        width = max(1, round(src.width * pixel_size / gsd))
        height = max(1, round(src.height * pixel_size / gsd))
        t, sx, sy = src.transform, src.width / width, src.height / height
        transform = Affine(t.a * sx, t.b * sy, t.c, t.d * sx, t.e * sy, t.f)
        given = {} if self.nodata is None else {"src_nodata": self.nodata, "nodata": self.nodata}
        self.dataset = WarpedVRT(
            src, crs=src.crs, transform=transform, width=width, height=height,
            resampling=Resampling.bilinear, **given,
        )  # fmt: skip

    def _check(self) -> None:
        src = self.dataset
        if src.subdatasets:
            raise RasterError(
                f"{self.path} holds {len(src.subdatasets)} subdatasets, not one raster; give one of them "
                f"(e.g. {src.subdatasets[0][:120]})"
            )
        if src.crs is None and src.gcps[0]:
            raise RasterError(
                f"{self.path} is georeferenced by ground control points only; warp it to a grid first "
                "(gdalwarp)"
            )
        if src.crs is None:
            raise RasterError(
                f"{self.path} has no CRS: it is not georeferenced, so its prediction could not be mapped"
            )
        kinds = {np.dtype(d).kind for d in src.dtypes}
        if not kinds <= {"u", "i", "f"}:
            raise RasterError(
                f"{self.path} has bands of type {', '.join(src.dtypes)}; real-valued bands are needed"
            )

    def known_empty(self) -> bool:
        """Whether the model's bands are known without reading them to hold no data at all.

        True for a sparse GeoTIFF none of whose blocks of those bands is written, when unwritten blocks
        read as nodata (the file, or `nodata`, has a nodata value); a cheap scan of the block index.
        """
        src = self.source
        nodata = self.nodata if self.nodata is not None else src.nodata
        if src.driver != "GTiff" or nodata is None:
            return False
        for band in self.indexes:
            for (i, j), _ in src.block_windows(band):
                try:
                    if src.block_size(band, i, j) > 0:
                        return False
                except RasterBlockError:  # GDAL has no size for a block never written: it is empty
                    continue
        return True

    @property
    def height(self) -> int:
        """Rows of the scene."""
        return int(self.dataset.height)

    @property
    def width(self) -> int:
        """Columns of the scene."""
        return int(self.dataset.width)

    def read(
        self, y: int, x: int, size: int, fill: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """The model's bands in a (size x size) window at row `y`, column `x`.

        Windows reaching past the scene (only for scenes smaller than a tile) are padded by mirroring.

        Args:
            y: First row.
            x: First column.
            size: Tile side.
            fill: Per-band value for nodata pixels.

        Returns:
            Raw values (bands, size, size) float32 and the mask (size, size) of pixels with data.
        """
        window = Window(x, y, min(size, self.width - x), min(size, self.height - y))
        try:
            raw = self.dataset.read(self.indexes, window=window, out_dtype="float32")
            masks = None if self.nodata is not None else self.dataset.read_masks(self.indexes, window=window)
        except RasterioIOError as err:
            raise RasterError(f"{self.path}: reading rows {y}-{y + window.height} failed: {err}") from err
        return prepare_tile(raw, self.nodata, fill, size, masks)

    def close(self) -> None:
        """Close the file (and its warped VRT)."""
        self.dataset.close()
        self.source.close()
        self._env.close()

    def __enter__(self) -> "Scene":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
