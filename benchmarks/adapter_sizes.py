"""Size of an adapter file per method at full size, against a full fine-tuned checkpoint.

Builds prithvi-300 at full size with random weights (nothing is downloaded), adds each method with the
paper's linear head for 2 classes, writes the adapter folder and reports the bytes of
adapter_model.safetensors. Run: python benchmarks/adapter_sizes.py [--base prithvi-300]
"""

import argparse
import tempfile
from pathlib import Path

import torch

import geoadapters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="prithvi-300")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for method in ["lora", "vpt", "vit_adapter", "linear_probe", "full"]:
        if method == "vit_adapter" and geoadapters.get_base(args.base).arch.patch_size != 16:
            continue
        classes = ["not burned", "burn scar"]
        model = geoadapters.create(args.base, method, "linear", classes=classes, pretrained=False)
        encoder_params = sum(p.numel() for p in model.encoder.parameters())
        with tempfile.TemporaryDirectory() as tmp:
            folder = model.save_pretrained(Path(tmp) / "adapter")
            size = (folder / "adapter_model.safetensors").stat().st_size
        params = sum(t.numel() for t in model.adapter_state_dict().values())
        rows.append((method, params, 100 * params / encoder_params, size / 1e6))
        del model
    print(f"{args.base} + linear head (2 classes): adapter_model.safetensors")
    print(f"{'method':<14}{'tensors (params)':>18}{'% of encoder':>14}{'MB':>10}")
    for method, params, share, mb in rows:
        print(f"{method:<14}{params:>18,}{share:>13.2f}%{mb:>10.1f}")


if __name__ == "__main__":
    main()
