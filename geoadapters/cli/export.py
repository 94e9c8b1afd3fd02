"""``geoadapters export``: a base model + adapter as one ONNX file, optionally with an int8 copy."""

from pathlib import Path

import click

from geoadapters.cli.options import adapter_opt, checkpoint_opt, model_opt, overwrite_opt
from geoadapters.config import MAX_TILE

__all__ = ["export_command"]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _file(ctx: click.Context, param: click.Parameter, value: str) -> Path:
    """The output as typed: a name ending in a slash names a folder, which Path would drop."""
    if value.endswith(("/", "\\")):
        raise click.BadParameter(f"{value!r} names a folder; give a file, such as {value}model.onnx")
    return Path(value)


@click.command("export", short_help="Export a model and adapter to ONNX.")
@model_opt
@adapter_opt
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    callback=_file,
    help="ONNX file to write.",
)
@click.option(
    "--tile-size", type=click.IntRange(1, MAX_TILE), help="Tile side in pixels (default: the adapter's)."
)
@click.option(
    "--int8", is_flag=True, help="Also write <stem>.int8.onnx, quantised for CPUs (opt-in: approximate)."
)
@checkpoint_opt
@overwrite_opt
def export_command(
    base: str | None,
    adapter: str,
    output: Path,
    tile_size: int | None,
    int8: bool,
    checkpoint: Path | None,
    overwrite: bool,
) -> None:
    """Write the base model + adapter as one ONNX model that takes raw band values, as stored in the files.

    LoRA is merged into the base weights. The batch is dynamic and the tile size fixed; the input
    contract (bands, scaling, normalisation, nodata), classes and tiling are stored in the model's
    metadata, where `--runtime onnx` of predict reads them.
    """
    from geoadapters._staging import check_overwrite
    from geoadapters.references import resolve_adapter

    int8_path = output.with_suffix(".int8.onnx")
    for path in [output, int8_path] if int8 else [output]:
        check_overwrite(path, overwrite)  # before minutes of export, not after
    source = resolve_adapter(adapter, base)
    source.folder("geoadapters export")  # an ONNX file is refused by name, before torch is imported
    from geoadapters.errors import needs_torch

    with needs_torch("geoadapters export (PyTorch)"):
        from geoadapters.factory import load
        from geoadapters.inference.export import export_onnx, quantize_int8

    model = load(source, checkpoint=checkpoint)
    report = export_onnx(model, output, tile_size=tile_size, overwrite=overwrite)
    size = _megabytes(report.size_bytes)
    click.echo(f"{report.path}  ({size}, {report.exporter} exporter, {report.seconds:.1f} s)")
    click.echo(f"max |ONNX - torch| logit difference: {report.max_abs_diff:.2g}")
    if int8:
        quantized = quantize_int8(report.path, int8_path, overwrite=overwrite)
        click.echo(
            f"{quantized.path}  ({_megabytes(quantized.int8_bytes)}, "
            f"{quantized.int8_bytes / quantized.fp32_bytes:.0%} of fp32)"
        )
        click.echo(
            f"int8 agrees with fp32 on {quantized.agreement:.2%} of pixels "
            f"(max |logit difference| {quantized.max_abs_diff:.2g}) on random inputs: check it on real data"
        )
