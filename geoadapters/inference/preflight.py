"""The cheap checks of a run, before any model is loaded: each scene opens, fits the adapter and tiles.

What can be told from a scene's header and the adapter's contract is told here, in a fraction of a
second per scene and without torch: the file exists and opens (CRS, bands found, frames on one grid),
the tile grid fits, the dates are one per frame, and the outputs can be written. Warnings (a GSD far
from the adapter's, undated frames) are returned as lines so that the run reports them once.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from geoadapters._staging import check_writable
from geoadapters.config import AdapterConfig
from geoadapters.errors import GeoAdaptersWarning, OptionError, RasterError, one_line
from geoadapters.inference.jobs import SceneJob
from geoadapters.inference.request import PredictOptions, scale_factor

if TYPE_CHECKING:
    from geoadapters.raster.read import Scene

__all__ = ["check_dates", "check_job", "check_jobs", "scene_warnings"]


def check_dates(config: AdapterConfig, options: PredictOptions) -> None:
    """Refuse dates that are not one per frame of the model.

    Raises:
        OptionError: Dates are given, but not as many as the model's frames.
    """
    dates = options.metadata.dates if options.metadata is not None else ()
    if dates and len(dates) != config.frames:
        raise OptionError(f"{len(dates)} dates given; the model takes {config.frames} frame(s), a date each")


def check_job(job: SceneJob, config: AdapterConfig, options: PredictOptions) -> list[str]:
    """Check one scene and its outputs against the adapter; return the warnings, one line each.

    Raises:
        GeoAdaptersError: What is wrong, in one line (missing or unreadable scene, no CRS, bands
            not found, frames not on one grid, no tile grid, an unwritable output).
    """
    return check_jobs([job], [config], options)


def scene_warnings(
    scene: "Scene", configs: Sequence[AdapterConfig], options: PredictOptions, *, gsd: bool
) -> list[GeoAdaptersWarning]:
    """The warnings of an open `scene` for `configs`: undated frames, its GSD (if `gsd`), its values.

    Preflight and the run both check with this.
    """
    from geoadapters.raster.metadata import frame_date_warning, gsd_warning, value_range_warning

    said: list[GeoAdaptersWarning | None] = [frame_date_warning(scene.dates, options.metadata)]
    if gsd:
        said += [gsd_warning(scene.source, config.input, scene.path) for config in configs]
    sample = scene.sample()
    said += [
        value_range_warning(sample, config.input, scale_factor(config.input, options.scale), scene.path)
        for config in configs
    ]
    return [warning for warning in said if warning is not None]


def check_jobs(
    jobs: Sequence[SceneJob], configs: Sequence[AdapterConfig], options: PredictOptions
) -> list[str]:
    """`check_job` of one scene's jobs, one per adapter (of one base and bands): the scene opened once."""
    from geoadapters.inference.tiling import TileGrid
    from geoadapters.raster.read import Scene

    first = configs[0]
    with Scene(
        jobs[0].scene, first.input.bands, bands=options.bands, nodata=options.nodata,
        geotiff_only=options.geotiff_only, frames=first.frames,
    ) as scene:  # fmt: skip
        said = scene_warnings(scene, configs, options, gsd=not options.resample)
        for config in configs:
            tile = options.tile_size or config.inference.tile_size
            overlap = config.inference.overlap if options.overlap is None else options.overlap
            try:
                TileGrid(scene.height, scene.width, tile, overlap, align=config.input_multiple)
            except ValueError as err:
                raise RasterError(f"cannot tile {scene.path}: {err}") from err
    for job in jobs:
        for path in job.outputs():
            check_writable(path)
    return list(dict.fromkeys(one_line(w) for w in said))
