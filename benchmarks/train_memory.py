"""Peak training memory, trainable parameters and speed per method on one base, relative to full fine-tuning.

Each method trains in its own process (peak memory is per process): prithvi-300 at full size with
random weights (nothing is downloaded; memory and speed do not depend on the values), the paper's
linear head for 2 classes, batch 2 of 224 x 224 px chips, AdamW over the trainable parameters,
cross-entropy; one warm-up step, then timed steps. Peak memory is CUDA's max allocated on a GPU,
else the peak resident set size of the process (which includes the Python runtime and libraries).
The paper reports about 30 % less memory for LoRA than for full fine-tuning (arXiv 2504.17397).

Run: python benchmarks/train_memory.py [--base prithvi-300] [--size 224] [--batch 2] [--steps 3]
"""

import argparse
import json
import resource
import subprocess
import sys
import time

METHODS = ["full", "lora", "vpt", "linear_probe", "vit_adapter"]


def measure(base: str, method: str, size: int, batch: int, steps: int, device: str) -> dict:
    import torch

    import geoadapters

    torch.manual_seed(0)
    model = geoadapters.create(base, method, "linear", classes=["a", "b"], pretrained=False)
    model = model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(batch, 6, size, size, device=device)
    y = torch.randint(0, 2, (batch, size, size), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    step()  # warm-up: optimiser state allocated
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "method": method,
        "trainable": sum(p.numel() for p in params),
        "peak_mb": peak,
        "steps_per_s": steps / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="prithvi-300")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process measuring one method
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.one:
        print(json.dumps(measure(args.base, args.one, args.size, args.batch, args.steps, args.device)))
        return
    rows = []
    for method in args.methods:
        child = [sys.executable, __file__, "--one", method, "--base", args.base, "--size", str(args.size)]
        child += ["--batch", str(args.batch), "--steps", str(args.steps), "--device", args.device]
        out = subprocess.run(child, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"measured {method}", file=sys.stderr)
    full = next((r for r in rows if r["method"] == "full"), rows[0])
    memory = "CUDA max allocated" if args.device == "cuda" else "peak RSS"
    setup = f"{args.base}, {args.size} px, batch {args.batch}, {args.steps} steps on {args.device}"
    print(f"{setup}; memory: {memory}")
    print(f"| method | trainable params | peak MB | / {full['method']} | steps/s | / {full['method']} |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['trainable'] / 1e6:.1f} M | {r['peak_mb']:.0f} | "
            f"{r['peak_mb'] / full['peak_mb']:.2f} | {r['steps_per_s']:.3f} | "
            f"{r['steps_per_s'] / full['steps_per_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
