"""``geoadapters export``: a base model + adapter as one ONNX file, optionally with an int8 copy."""

from pathlib import Path

import click

from geoadapters.errors import OutputExistsError

__all__ = ["export_command"]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@click.command("export", short_help="Export a model and adapter to ONNX.")
@click.argument("base")
@click.argument("adapter")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="ONNX file to write.",
)
@click.option("--tile-size", type=click.IntRange(min=1), help="Tile side in pixels (default: the adapter's).")
@click.option(
    "--int8", is_flag=True, help="Also write <stem>.int8.onnx, quantised for CPUs (opt-in: approximate)."
)
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Local copy of the base checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def export_command(
    base: str,
    adapter: str,
    output: Path,
    tile_size: int | None,
    int8: bool,
    checkpoint: Path | None,
    overwrite: bool,
) -> None:
    """Write BASE + ADAPTER as one ONNX model that takes raw band values, as stored in the files.

    LoRA is merged into the base weights. The batch is dynamic and the tile size fixed; the input
    contract (bands, scaling, normalisation, nodata), classes and tiling are stored in the model's
    metadata, where `geoadapters.runtime.OnnxRunner` reads them.
    """
    from geoadapters.export import export_onnx, quantize_int8
    from geoadapters.factory import load

    int8_path = output.with_suffix(".int8.onnx")
    for path in [output, int8_path] if int8 else [output]:
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    model = load(base, adapter, checkpoint=checkpoint)
    report = export_onnx(model, output, tile_size=tile_size)
    size = _megabytes(report.size_bytes)
    click.echo(f"{report.path}  ({size}, {report.exporter} exporter, {report.seconds:.1f} s)")
    click.echo(f"max |ONNX - torch| logit difference: {report.max_abs_diff:.2g}")
    if int8:
        quantized = quantize_int8(report.path, int8_path)
        click.echo(
            f"{quantized.path}  ({_megabytes(quantized.int8_bytes)}, "
            f"{quantized.int8_bytes / quantized.fp32_bytes:.0%} of fp32)"
        )
        click.echo(
            f"int8 agrees with fp32 on {quantized.agreement:.2%} of pixels "
            f"(max |logit difference| {quantized.max_abs_diff:.2g}) on random inputs: check it on real data"
        )
