"""``geoadapters convert``: a TerraTorch fine-tune (YAML + checkpoint) as an adapter folder.

Without a base checkpoint and rank the folder holds the whole model (method ``full``, exact). With
``--rank R`` the encoder's change from the official base becomes a rank-R LoRA (``--rank 0``: the
head only), and the agreement with the full model on the ``--chip`` GeoTIFFs is recorded.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geoadapters.cli.options import overwrite_opt

if TYPE_CHECKING:
    from torch import Tensor

    from geoadapters.geomodel import GeoModel

__all__ = ["chip_inputs", "convert_command"]


def chip_inputs(model: "GeoModel", chips: Sequence[str], size: int) -> "Tensor":
    """Normalised (N, C, size, size) centre windows of GeoTIFF chips: ``PATH`` or ``PATH:N,N,...``.

    Raises:
        RasterError, BandError: A chip cannot be read or its bands not matched.
    """
    import numpy as np
    import torch

    from geoadapters.raster.read import Scene

    spec = model.input_spec
    fill = (
        np.asarray(spec.mean, np.float32) / spec.scale
        if spec.nodata_fill is None
        else np.full(len(spec.bands), spec.nodata_fill, np.float32)
    )
    windows = []
    for chip in chips:
        path, _, numbers = (
            chip.rpartition(":") if ":" in chip and chip.rpartition(":")[2][:1].isdigit() else (chip, "", "")
        )
        bands = numbers.split(",") if numbers else None
        with Scene(Path(path), spec.bands, bands=bands) as scene:
            y, x = max(scene.height - size, 0) // 2, max(scene.width - size, 0) // 2
            raw, _ = scene.read(y, x, size, fill)
        windows.append(raw)
    return model.normalize(torch.from_numpy(np.stack(windows)))


@click.command("convert", short_help="Convert a TerraTorch fine-tune into an adapter folder.")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Adapter folder to write.",
)
@click.option(
    "--base-checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Local copy of the official base weights (else from the Hub).",
)
@click.option(
    "--rank",
    type=click.IntRange(min=0),
    help="Store the encoder's change from the base as a LoRA of this rank (0: head only).",
)
@click.option(
    "--chip",
    "chips",
    multiple=True,
    help="GeoTIFF to measure the agreement on (repeatable); PATH:N,N,... picks its bands.",
)
@click.option(
    "--chip-size",
    type=click.IntRange(min=16),
    default=224,
    show_default=True,
    help="Side of the centre window of each chip.",
)
@click.option(
    "--unet-final-upsample/--no-unet-final-upsample",
    "final_upsample",
    default=None,
    help="U-Net variant: up-sample in the last block (TerraTorch <= 1.1) or not (>= 1.1.1); "
    "default: what the checkpoint records.",
)
@click.option("--name", default="", help="Short name of the adapter, <dataset>-<method>.")
@overwrite_opt
def convert_command(
    config: Path,
    checkpoint: Path,
    output: Path,
    base_checkpoint: Path | None,
    rank: int | None,
    chips: tuple[str, ...],
    chip_size: int,
    final_upsample: bool | None,
    name: str,
    overwrite: bool,
) -> None:
    """Convert a TerraTorch CONFIG (the training YAML) and CHECKPOINT (.pt/.ckpt) into an adapter folder.

    The checkpoint is read with torch.load(weights_only=True); nothing is unpickled.
    """
    from geoadapters._staging import check_overwrite
    from geoadapters.errors import needs_torch

    with needs_torch("geoadapters convert (PyTorch)"):
        from geoadapters.convert.lowrank import agreement, to_lora
        from geoadapters.convert.terratorch import from_terratorch

    check_overwrite(output, overwrite)
    model = from_terratorch(config, checkpoint, final_upsample=final_upsample, name=name)
    inputs = chip_inputs(model, chips, chip_size) if chips else None
    if rank is None and base_checkpoint is None:
        if inputs is not None:
            found = agreement(model, model, inputs)
            click.echo(f"full model: max |logit difference| {found.max_logit_error:.2g} (exact)")
        folder = model.save_pretrained(output, overwrite=overwrite)
        click.echo(f"{folder}  (full: every weight)")
        return
    converted, report = to_lora(
        model,
        16 if rank is None else rank,
        base_checkpoint=base_checkpoint,
        inputs=inputs,
        inputs_from=", ".join(chips),
    )
    folder = converted.save_pretrained(output, overwrite=overwrite)
    size = (folder / "adapter_model.safetensors").stat().st_size
    click.echo(
        f"{folder}  ({converted.config.method.name}, rank {report.rank}, {size / 1e6:.1f} MB): "
        f"delta energy kept {report.energy_kept:.4f}, max |logit difference| "
        f"{report.agreement.max_logit_error:.3g}, pixel agreement {report.agreement.pixel_agreement:.4%}"
    )
