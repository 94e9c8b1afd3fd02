"""The CUDA paths in one short run, for a session lent a GPU: what a CPU machine cannot check.

1. Training: a step of prithvi-300 + LoRA + UperNet in bf16 autocast beside fp32 (s/step, peak GPU
   memory, the two losses).
2. ViT-Adapter's deformable attention: the backend that runs (Deformable DETR's compiled extension
   where it is installed, else PyTorch's grid_sample), a bf16 training step, and the two backends'
   outputs against each other where both exist.
3. Prediction: `predict_raster` in fp32 and fp16 on a 2048 px scene, tiles blended on the device, the
   batch fitted to free memory (`TorchRunner.fitting_batch`); tiles/s and the share of pixels whose
   class fp16 keeps.
4. onnxruntime: the provider a CUDA session gets, and its tiles/s beside torch fp32.

Weights are random (nothing is downloaded); timings do not depend on them. ``--device cpu --small``
runs the same code at toy sizes, which is how it is checked on machines without a GPU. On an H200 the
default run takes 2 to 4 minutes.

Run: python benchmarks/gpu.py [--device cuda] [--small]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from predict import DEMO_ADAPTER, agreement, make_scene

import geoadapters
from geoadapters.config import AdapterConfig
from geoadapters.inference.export import export_onnx
from geoadapters.inference.onnx_runner import OnnxRunner
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.methods.vit_adapter.deform_attn import (
    deform_attn_backend,
    ms_deform_attn,
    ms_deform_attn_pytorch,
)

SMALL = {"depth": 4, "embed_dim": 64, "num_heads": 4}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def model(method: str, head: str, args: argparse.Namespace) -> geoadapters.GeoModel:
    torch.manual_seed(0)
    sizes = SMALL if args.small else {}
    spec = AdapterConfig.read(DEMO_ADAPTER / "geoadapter.json").input  # bands the scenes have
    return geoadapters.create(
        "prithvi-300", method, head, classes=["not water", "water"], pretrained=False, input=spec, **sizes
    )


def train_steps(net: geoadapters.GeoModel, args: argparse.Namespace, precision: str) -> dict[str, Any]:
    """Mean seconds of `args.steps` AdamW steps (after one warm-up), the last loss, peak memory."""
    device = torch.device(args.device)
    net = net.train().to(device)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 6, args.tile, args.tile, generator=generator).to(device)
    y = torch.randint(0, 2, (args.batch, args.tile, args.tile), generator=generator).to(device)
    dtype = torch.bfloat16 if precision == "bf16" else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, loss = [], float("nan")
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        out.backward()
        optimizer.step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
        loss = out.item()
    return {"s_per_step": float(np.mean(seconds[1:])), "loss": loss, "peak_gb": peak_gb(device)}


def check_training(args: argparse.Namespace) -> dict[str, Any]:
    return {p: train_steps(model("lora", "upernet", args), args, p) for p in ("fp32", "bf16")}


def check_deformable_attention(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    shapes = [(28, 28), (14, 14), (7, 7)]
    value = torch.randn(2, sum(h * w for h, w in shapes), 8, 32, generator=generator).to(device)
    locations = torch.rand(2, 100, 8, len(shapes), 4, 2, generator=generator).to(device)
    weights = torch.rand(2, 100, 8, len(shapes), 4, generator=generator).to(device)
    weights /= weights.sum((-1, -2), keepdim=True)
    spatial = torch.tensor(shapes, device=device)
    starts = torch.cat([spatial.new_zeros(1), (spatial[:, 0] * spatial[:, 1]).cumsum(0)[:-1]])
    backend = deform_attn_backend(value)
    dispatched = ms_deform_attn(value, spatial, starts, locations, weights)
    reference = ms_deform_attn_pytorch(value, shapes, locations, weights)
    result: dict[str, Any] = {
        "backend": backend,
        "max_abs_diff_vs_pytorch": float((dispatched - reference).abs().max()),
    }
    precision = "bf16" if device.type == "cuda" else "fp32"  # bf16 is ~100x slower on such CPUs
    result[f"train_{precision}"] = train_steps(model("vit_adapter", "upernet", args), args, precision)
    return result


def check_prediction(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    net = model("lora", "linear", args).eval()
    net.merge_and_unload()
    scene = make_scene(work / "scene.tif", args.scene)
    result: dict[str, Any] = {"scene": args.scene}
    precisions = ("fp32", "fp16") if args.device.startswith("cuda") else ("fp32",)
    for precision in precisions:
        runner = TorchRunner(net, args.device, precision)
        fitted = runner.fitting_batch(net.config.inference.tile_size)
        predict_raster(scene, work / "warm.tif", runner, overwrite=True)
        start = time.perf_counter()
        report = predict_raster(scene, work / f"{precision}.tif", runner, overwrite=True)
        seconds = time.perf_counter() - start
        result[precision] = {"fitted_batch": fitted, "tiles_per_s": report.computed / seconds}
    if "fp16" in result:
        result["fp16_class_agreement"] = agreement(work / "fp16.tif", work / "fp32.tif")
    exported = export_onnx(net, work / "model.onnx")
    onnx = OnnxRunner(exported.path, args.device)
    start = time.perf_counter()
    report = predict_raster(scene, work / "onnx.tif", onnx, overwrite=True)
    result["onnx"] = {
        "provider": onnx.session.get_providers()[0],
        "tiles_per_s": report.computed / (time.perf_counter() - start),
        "class_agreement_vs_torch": agreement(work / "onnx.tif", work / "fp32.tif"),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="toy sizes (a check of this script)")
    args = parser.parse_args()
    args.tile = 64 if args.small else 224
    args.batch, args.steps = (2, 2) if args.small else (8, 10)
    args.scene = 256 if args.small else 2048
    info: dict[str, Any] = {"torch": torch.__version__, "device": args.device}
    if args.device.startswith("cuda"):
        device = torch.device(args.device)
        free, total = torch.cuda.mem_get_info(device)
        info |= {"gpu": torch.cuda.get_device_name(device), "free_gb": free / 2**30}
        info["total_gb"] = total / 2**30
    print(json.dumps({"machine": info}), flush=True)
    with tempfile.TemporaryDirectory(prefix="geoadapters-cuda-") as work:
        checks = {
            "training": check_training,
            "deformable_attention": check_deformable_attention,
            "prediction": lambda a: check_prediction(a, Path(work)),
        }
        for name, check in checks.items():
            start = time.perf_counter()
            result = check(args)
            print(json.dumps({name: result, "seconds": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
