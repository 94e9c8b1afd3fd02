"""``geoadapters vectorize``: the cleaned polygons of a saved class map, without inference."""

from pathlib import Path

import click

from geoadapters.cli.options import overwrite_opt, vector_options, vector_options_opt

__all__ = ["vectorize_command"]


@click.command("vectorize", short_help="Polygons of a saved class map.")
@click.argument("class_map", type=click.Path(dir_okay=False, path_type=Path), metavar="CLASS_MAP.tif")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.gpkg, FILE.geojson or FILE.parquet [default: <CLASS_MAP stem>.gpkg beside it].",
)
@vector_options_opt
@overwrite_opt
def vectorize_command(
    class_map: Path,
    output: Path | None,
    simplify: float,
    min_area: float,
    fill_holes: float,
    area_unit: str,
    vector_classes: str | None,
    overwrite: bool,
) -> None:
    """Write the cleaned class polygons of CLASS_MAP.tif, a class map that predict wrote.

    The same polygons as predict --vector with the same options gave: class, value, pixels, area_m2
    and confidence (from <stem>_uncertainty.tif beside the map, else <stem>_proba.tif; else empty).
    """
    from geoadapters.errors import RasterError
    from geoadapters.raster.vector import vectorize

    try:
        found = class_map.is_file()
    except OSError as err:  # a name too long
        raise RasterError(f"{str(class_map)[:200]}: {err.strerror}") from None
    if not found:
        raise RasterError(f"{class_map}: no such file")
    target = output or class_map.with_suffix(".gpkg")
    options = vector_options(simplify, min_area, fill_holes, area_unit, vector_classes)
    written = vectorize(class_map, target, options, overwrite=overwrite)
    click.echo(written)
