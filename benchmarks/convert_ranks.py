"""Size and agreement of a TerraTorch fine-tune shrunk into LoRA adapters of several ranks.

No published weights can be downloaded here, so the fine-tune is synthetic but shaped like one: an
official-layout base checkpoint of the prithvi-300 family at a reduced size (--dim, --depth), and a
fine-tune whose change of every block Linear has a decaying spectrum (singular values s_k = 0.5 *
0.8**k, all ranks present) plus changed biases and norms, a UPerNet head, written as a TerraTorch
YAML + Lightning checkpoint in the published layout. Each rank is converted with `to_lora` and
measured on 224 px windows of the repository's real chips (the HLS L30 chip and the Sen1Floods11
Sentinel-2 chip), normalised with the fine-tune's input contract.

Run from a checkout: PYTHONPATH=. python benchmarks/convert_ranks.py [--dim 256 --depth 8 --ranks 0,4,16,64]
"""

import argparse
import tempfile
from pathlib import Path

import torch

import geoadapters
from geoadapters.backbone import create_backbone
from geoadapters.cli.convert import chip_inputs
from geoadapters.convert.lowrank import to_lora
from tests.conftest import HLS_CHIP, S2_CHIP
from tests.convert.terratorch_files import (
    BANDS,
    MEANS,
    STDS,
    model_args,
    terratorch_state,
    write_checkpoint,
    write_config,
)
from tests.models.official import prithvi_checkpoint


def _decaying(out: int, inp: int, gen: torch.Generator) -> torch.Tensor:
    u, _ = torch.linalg.qr(torch.randn(out, min(out, inp), generator=gen))
    v, _ = torch.linalg.qr(torch.randn(inp, min(out, inp), generator=gen))
    s = 0.5 * 0.8 ** torch.arange(min(out, inp), dtype=torch.float32)
    return (u * s) @ v.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--ranks", default="0,4,16,64")
    args = parser.parse_args()
    heads = max(1, args.dim // 64)
    arch = {"depth": args.depth, "embed_dim": args.dim, "num_heads": heads}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base_ckpt = root / "Prithvi_EO_V2_300M.pt"
        prithvi_checkpoint(base_ckpt, dim=args.dim, depth=args.depth)
        encoder = create_backbone("prithvi-300", base_ckpt, bands=BANDS, **arch)
        gen = torch.Generator().manual_seed(0)
        state = encoder.state_dict()
        for name, value in state.items():
            if name.startswith("blocks.") and name.endswith(
                ("qkv.weight", "proj.weight", "fc1.weight", "fc2.weight")
            ):
                value += _decaying(*value.shape, gen)
            elif name.startswith("blocks.") and name.endswith("bias"):
                value += 0.02 * torch.randn(value.shape, generator=gen)
        encoder.load_state_dict(state)
        torch.manual_seed(1)
        head = geoadapters.heads.build_head("upernet", encoder, 2, channels=64, layers=None)
        overrides = {
            "backbone_depth": args.depth,
            "backbone_embed_dim": args.dim,
            "backbone_num_heads": heads,
        }
        necks = [{"name": "SelectIndices", "indices": [(k + 1) * args.depth // 4 - 1 for k in range(4)]},
                 {"name": "ReshapeTokensToImage"}, {"name": "LearnedInterpolateToPyramidal"}]  # fmt: skip
        margs = model_args("UperNetDecoder", decoder_channels=64, necks=necks) | overrides
        # the chips store reflectance x 10000: the contract scales them as the Sen1Floods11 module does
        init = {"means": MEANS, "stds": STDS, "constant_scale": 0.0001, "no_data_replace": 0}
        data = {"class_path": "GenericNonGeoSegmentationDataModule", "init_args": init}
        config = write_config(root / "config.yaml", margs, data)
        ckpt = write_checkpoint(root / "ft.pt", terratorch_state(encoder.eval(), head.eval()))
        full = geoadapters.from_terratorch(config, ckpt)
        inputs = chip_inputs(full, [f"{HLS_CHIP}:2,3,4,5,6,7", str(S2_CHIP)], 224)
        full_mb = (
            full.save_pretrained(root / "full").joinpath("adapter_model.safetensors").stat().st_size / 1e6
        )
        print(f"prithvi-300 family at embed_dim {args.dim}, depth {args.depth}; UPerNet 64; "
              f"agreement on {HLS_CHIP.name} and {S2_CHIP.name} (224 px)")  # fmt: skip
        print("| rank | MB | share of full | delta energy kept | max logit error | pixel agreement |")
        print("|---|---|---|---|---|---|")
        for rank in [int(r) for r in args.ranks.split(",")]:
            lora, report = to_lora(full, rank, base_checkpoint=base_ckpt, inputs=inputs)
            mb = (
                lora.save_pretrained(root / f"r{rank}").joinpath("adapter_model.safetensors").stat().st_size
                / 1e6
            )
            found = report.agreement
            print(f"| {rank} | {mb:.2f} | {mb / full_mb:.1%} | {report.energy_kept:.4f} | "
                  f"{found.max_logit_error:.3g} | {found.pixel_agreement:.2%} |")  # fmt: skip
        print(f"| full | {full_mb:.2f} | 100% | 1 | 0 | 100% |")


if __name__ == "__main__":
    main()
