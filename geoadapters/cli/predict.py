"""``geoadapters predict``: segment GeoTIFF scenes with a base model and an adapter."""

import glob
import sys
from pathlib import Path

import click

from geoadapters.cli.options import adapter_opt, checkpoint_opt, model_opt, overwrite_opt, precision_opt

__all__ = ["predict_command"]


def _sources(patterns: tuple[str, ...]) -> list[Path]:
    """Paths of the arguments, with glob patterns (quoted on the shell) expanded."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise click.BadParameter(f"no file matches {pattern!r}", param_hint="SCENE")
        paths += [Path(m) for m in matches]
    return paths


def _output(source: Path, output: Path | None, many: bool) -> Path:
    from geoadapters.inference.predict import default_output

    if output is None:
        return default_output(source)
    if many or output.is_dir() or output.suffix.lower() not in (".tif", ".tiff"):
        return default_output(source, output)
    return output


@click.command("predict", short_help="Segment GeoTIFF scenes.")
@click.argument("scenes", nargs=-1, required=True, metavar="SCENE...")
@model_opt
@adapter_opt
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (one scene) or folder.")
@click.option(
    "--tile-size", type=click.IntRange(min=16), help="Tile side in pixels (default: the adapter's)."
)
@click.option(
    "--overlap", type=click.IntRange(min=0), help="Overlap of neighbouring tiles (default: the adapter's)."
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Tiles per forward pass.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--runtime", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True)
@precision_opt
@click.option("--probabilities", is_flag=True, help="Add a float band of probability per class.")
@click.option("--bands", help="File bands to use: numbers in the model's band order (2,3,4,5,6,7), "
              "or names of all the file's bands in file order. Default: the band descriptions.")  # fmt: skip
@click.option("--scale", type=float, help="Factor from file values to the adapter's units (e.g. 0.0001).")
@click.option("--nodata", type=float, help="Nodata value of the input, overriding its metadata.")
@checkpoint_opt
@overwrite_opt
def predict_command(
    scenes: tuple[str, ...],
    base: str,
    adapter: str,
    output: Path | None,
    tile_size: int | None,
    overlap: int | None,
    batch_size: int | None,
    device: str,
    runtime: str,
    precision: str,
    probabilities: bool,
    bands: str | None,
    scale: float | None,
    nodata: float | None,
    checkpoint: Path | None,
    overwrite: bool,
) -> None:
    """Write a georeferenced class map (a Cloud-Optimised GeoTIFF) for each SCENE.

    Outputs are <stem>_pred.tif next to each scene, or in --output. Scenes of any size are streamed
    in tiles whose overlaps are blended, so memory stays bounded and tile borders leave no seams.
    """
    from tqdm import tqdm

    from geoadapters.factory import load
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.runtime import make_runner

    sources = _sources(scenes)
    model = load(base, adapter, checkpoint=checkpoint)
    runner = make_runner(
        model, runtime=runtime, device=None if device == "auto" else device, precision=precision
    )
    band_list = [b.strip() for b in bands.split(",")] if bands else None
    for source in sources:
        target = _output(source, output, len(sources) > 1)
        with tqdm(
            total=0, unit="tile", desc=source.name, disable=not sys.stderr.isatty(), leave=False
        ) as bar:

            def progress(done: int, total: int, bar: tqdm = bar) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = predict_raster(
                source,
                target,
                runner,
                tile_size=tile_size,
                overlap=overlap,
                batch_size=batch_size,
                probabilities=probabilities,
                bands=band_list,
                scale=scale,
                nodata=nodata,
                overwrite=overwrite,
                progress=progress,
            )
        tiles = f"{report.computed}/{report.tiles} tiles"
        click.echo(f"{report.output}  ({tiles}, {report.seconds:.1f} s, {report.runner})")
        total = sum(report.class_pixels.values())
        shares = ", ".join(f"{name} {count / total:.1%}" for name, count in report.class_pixels.items())
        click.echo(f"  {total:,} px: {shares}")
