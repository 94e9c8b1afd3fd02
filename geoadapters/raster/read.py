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
import datetime
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
from geoadapters.raster.metadata import acquisition_date, band_date, grid_metadata
from geoadapters.raster.remote import gdal_path, remote_options
from geoadapters.raster.stac import is_stac_item, stac_vrt
from geoadapters.raster.vrt import VrtBand, grid_of, one_grid, stack_vrt
from geoadapters.specs import SceneMetadata

__all__ = ["Scene", "prepare_tile", "resolve_bands", "resolve_frame_bands"]


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
        f"Name the file's {count} bands in file order, or pick the {len(needed)} the model needs by "
        "number in the model's order, with `bands`"
    )
    if bands is not None:
        if all(str(b).strip().isdigit() for b in bands):
            numbers = [int(b) for b in bands]
            if len(numbers) != len(needed):
                raise BandError(
                    f"`bands` picks {len(numbers)} bands; the model needs {len(needed)}: {', '.join(needed)}"
                )
            outside = [n for n in numbers if not 1 <= n <= count]
            if outside:
                raise BandError(f"band number(s) {outside} do not exist: the file has bands 1 to {count}")
            _check_picked(descriptions, numbers, needed)
            return numbers
        if len(bands) != count:
            raise BandError(f"`bands` names {len(bands)} bands but the file has {count}. {hint}")
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


def resolve_frame_bands(
    descriptions: Sequence[str | None], needed: Sequence[str], bands: Sequence[str] | None, frames: int
) -> list[int]:
    """`resolve_bands` for a multi-date stack: `frames` groups of bands, frame after frame, each matched.

    Raises:
        BandError: The band count is no multiple of `frames` holding the needed bands per frame, or a
            frame's bands cannot be matched (the message names the frame).
    """
    if frames == 1:
        return resolve_bands(descriptions, needed, bands)
    count = len(descriptions)
    per = count // frames
    if count % frames or per < len(needed):
        raise BandError(
            f"the file has {count} bands; a model of {frames} frames takes {frames} files (`frames`) or a "
            f"multi-date stack of {frames} x {len(needed)} or more bands, frame after frame"
        )
    numbers = []
    for frame in range(frames):
        first = frame * per
        try:
            numbers += [first + n for n in resolve_bands(descriptions[first : first + per], needed, bands)]
        except BandError as err:
            raise BandError(f"frame {frame + 1} (bands {first + 1}-{first + per}): {err}") from err
    return numbers


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
            f"`bands` contradicts the file's band descriptions: band {'; band '.join(wrong)}. "
            "Pick the bands the descriptions name, or leave `bands` out"
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

    For models of several frames (dates), a scene is either one file per frame, all on one grid, or a
    multi-date stack: one file whose bands are the frames' bands, frame after frame (band matching per
    frame, `resolve_frame_bands`). Either way tiles hold the frames' bands frame after frame:
    (frames x bands, size, size).

    Args:
        path: GeoTIFF (or any raster GDAL reads), or a sequence of them: the frames, in time order.
        needed: Canonical bands the model reads, in order.
        bands: See `resolve_bands` (per frame).
        nodata: Nodata value overriding the file's masks.
        geotiff_only: Open GeoTIFFs (and COGs) only, refusing VRTs and every other format.
        frames: Frames the model takes.

    Attributes:
        path: The file (the first frame's for several files).
        frames: The frames' files; one, a multi-date stack, or one per frame.
        dates: Acquisition date of each frame (from tags or file names), None where unknown.
        source_bands: The files' bands read, frame after frame.

    Raises:
        RasterError: Missing, no regular file, empty, unreadable, another format than GeoTIFF with
            `geotiff_only`, not georeferenced, or of a non-numeric type; frames that are not as many as
            `frames`, or not on one grid.
        BandError: The bands cannot be matched.
    """

    dataset: rasterio.DatasetReader  # what tiles are read from: the file, a VRT of the frames, a warp
    indexes: list[int]  # the dataset's bands that tiles hold

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        needed: Sequence[str],
        *,
        bands: Sequence[str] | None = None,
        nodata: float | None = None,
        geotiff_only: bool = False,
        frames: int = 1,
    ) -> None:
        paths = [path] if isinstance(path, str | Path) else list(path)
        if len(paths) != 1:  # one file per frame
            self._open_frames(paths, needed, bands, geotiff_only, frames)
            self.nodata = nodata
            return
        (path,) = paths
        stac = is_stac_item(path)
        remote = gdal_path(path)
        self.path: Path | str = str(path) if remote or stac else Path(path)
        # GDAL's remote options hold while the scene is open: an Env per read would drop GDAL's cache
        self._env = contextlib.ExitStack()
        if remote or stac:
            self._env.enter_context(rasterio.Env(**remote_options()))
        try:
            if stac:  # its band assets, stacked in a VRT held in memory
                xml, _ = stac_vrt(path, needed, geotiff_only)
                remote = self._env.enter_context(rasterio.MemoryFile(xml.encode(), ext=".vrt")).name
                geotiff_only = False  # the assets were checked; the VRT is ours
            self._open(remote, geotiff_only, needed, bands, frames)
        except BaseException:
            self._env.close()
            raise
        self.nodata = nodata  # None: the file's masks
        self.source = self.dataset  # the file; `dataset` is what tiles are read from
        self.frames: list[Path | str] = [self.path]
        self.source_bands = self.indexes  # of the file: those of each frame of a stack
        if frames == 1:
            self.dates: list[datetime.date | None] = [acquisition_date(self.source, self.path)]
        else:  # a multi-date stack: the tags of each frame's first band
            per = self.source.count // frames
            self.dates = [band_date(self.source, f * per + 1) for f in range(frames)]

    def _open_frames(
        self,
        paths: list[str | Path],
        needed: Sequence[str],
        bands: Sequence[str] | None,
        geotiff_only: bool,
        frames: int,
    ) -> None:
        """Open one file per frame and read them through a VRT of their model bands, frame after frame."""
        self._env = contextlib.ExitStack()
        try:
            if len(paths) != frames:
                raise RasterError(
                    f"{len(paths)} frames given ({', '.join(map(str, paths[:3]))}"
                    f"{', ...' if len(paths) > 3 else ''}); the model takes {frames}"
                    + (": give one scene at a time, without --frames" if frames == 1 else "")
                )
            opened = [
                self._env.enter_context(Scene(p, needed, bands=bands, geotiff_only=geotiff_only))
                for p in paths
            ]
            grid = one_grid(((str(s.path), grid_of(s.source)) for s in opened), "the frames")
            stacked = [
                VrtBand(s.source.name, i, name, s.source.dtypes[i - 1], s.source.nodatavals[i - 1])
                for s in opened
                for i, name in zip(s.indexes, needed, strict=True)
            ]
            memory = rasterio.MemoryFile(stack_vrt(grid, stacked).encode(), ext=".vrt")
            self.dataset = self._env.enter_context(self._env.enter_context(memory).open())
        except BaseException:
            self._env.close()
            raise
        self.path = opened[0].path
        self.source = self.dataset
        self.indexes = list(range(1, len(stacked) + 1))
        self.frames = [s.path for s in opened]
        self.source_bands = [i for s in opened for i in s.indexes]  # each file's, frame after frame
        self.dates = [date for s in opened for date in s.dates]

    def _open(
        self,
        remote: str | None,
        geotiff_only: bool,
        needed: Sequence[str],
        bands: Sequence[str] | None,
        frames: int,
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
            self.indexes = resolve_frame_bands(self.dataset.descriptions, needed, bands, frames)
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

    def metadata(self, overrides: SceneMetadata | None = None) -> SceneMetadata:
        """Dates (one per frame), centre and GSD of the scene; the fields set in `overrides` replace them."""
        src = self.source
        return grid_metadata(src.crs, src.transform, src.height, src.width, self.dates, overrides)

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

    def sample(self, size: int = 64) -> npt.NDArray[np.float32]:
        """Valid raw values of the model's bands in five small windows (the centre and the quarters' centres).

        Enough to tell the scene's value range cheaply, whatever its size or layout.
        """
        fill = np.full(len(self.indexes), np.nan, np.float32)
        values = []
        for fy, fx in ((0.5, 0.5), (0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)):
            y = max(0, min(self.height - size, int(fy * self.height) - size // 2))
            x = max(0, min(self.width - size, int(fx * self.width) - size // 2))
            raw, valid = self.read(y, x, size, fill)
            values.append(raw[:, valid].ravel())
        return np.concatenate(values)

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
