"""Tiled prediction speed and memory: streaming predict vs a whole-scene-in-memory tiler, torch vs ONNX.

For one model and scene the script measures, in one run:

- the fp32 matmul GFLOP/s of this machine (the roofline) and the model's GFLOP per tile;
- `geoadapters.predict_raster` with the torch runtime on a scene and on one 16 times its area:
  tiles/s, achieved GFLOP/s (end to end, reading and writing included), peak memory;
- the same with onnxruntime on the exported model (fp32, and int8 with --int8);
- a naive tiler as the baseline, the way TerraTorch's tiled inference works: the whole scene read into
  memory, every tile's logits summed into whole-scene arrays, written at the end.

Every prediction runs in a fresh process, so peak memory (max RSS) is its own. Scenes are built by
mirroring the real Sentinel-2 chip of tests/data. Weights are random (nothing is downloaded): speed and
memory do not depend on them.

Run: python benchmarks/predict.py [--model prithvi-300] [--scene 448] [--tile 224] [--int8]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "tests" / "data" / "sen1floods11" / "Spain_7370579_S2Hand.tif"
DEMO_ADAPTER = ROOT / "geoadapters" / "default" / "sen1floods11-tiny"  # its input contract is the paper's


def matmul_gflops(size: int = 4096, repeats: int = 3) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_scene(path: Path, size: int) -> Path:
    """A size x size scene: the real chip mirrored to fill it, same pixel size and CRS."""
    with rasterio.open(CHIP) as src:
        data = src.read()
        profile = src.profile | {
            "height": size,
            "width": size,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        descriptions = src.descriptions
    pad = max(0, size - data.shape[1])
    mirrored = np.pad(data, ((0, 0), (0, pad), (0, pad)), mode="symmetric")[:, :size, :size]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mirrored)
        for i, d in enumerate(descriptions, start=1):
            dst.set_band_description(i, d)
    return path


def make_adapter(model: str, folder: Path, tile: int, overlap: int, batch: int) -> float:
    """A full fine-tune adapter (it carries every weight, so children need no base checkpoint).

    Returns:
        GFLOP of one tile's forward pass.
    """
    import geoadapters
    from geoadapters.config import AdapterConfig, Inference

    inference = Inference(tile_size=tile, overlap=overlap, batch_size=batch)
    classes = ["not water", "water"]
    spec = AdapterConfig.read(DEMO_ADAPTER / "geoadapter.json").input
    net = geoadapters.create(
        model, "full", "linear", classes=classes, pretrained=False, input=spec, inference=inference
    )
    net.save_pretrained(folder)
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net.eval()(torch.zeros(1, 6, tile, tile))
    return counter.get_total_flops() / 1e9


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM; getrusage's maxrss also counts the forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One prediction in this process; prints seconds (model loading excluded), tiles and peak memory."""
    import geoadapters
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.runners import OnnxRunner, TorchRunner

    if args.mode == "onnx":
        runner = OnnxRunner(args.onnx)
    else:
        model = geoadapters.load(args.model, args.adapter)
        runner = TorchRunner(model)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: model loading is not prediction
    start = time.perf_counter()
    if args.mode == "naive":
        tiles = computed = naive_predict(args.scene, model, args.out)
    else:
        report = predict_raster(args.scene, args.out, runner, overwrite=True)
        tiles, computed = report.tiles, report.computed
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "tiles": tiles, "computed": computed, "peak_mb": peak_memory_mb()}))


def naive_predict(scene: str, model: torch.nn.Module, out: str) -> int:
    """Whole scene in memory, TerraTorch-style: tiles at a fixed stride, logits summed over the scene."""
    from geoadapters.bands import band_indices

    config = model.config
    spec = config.input
    tile, overlap, batch = config.inference.tile_size, config.inference.overlap, config.inference.batch_size
    with rasterio.open(scene) as src:
        index = [i + 1 for i in band_indices(src.descriptions, spec.bands)]
        raw = torch.from_numpy(src.read(index).astype("float32"))
        profile = src.profile
    x = model.normalize(raw[None])[0]
    _, height, width = x.shape
    stride = tile - overlap
    ys = [*range(0, height - tile, stride), height - tile]
    xs = [*range(0, width - tile, stride), width - tile]
    logits = torch.zeros(len(config.classes), height, width)
    count = torch.zeros(height, width)
    origins = [(y, x0) for y in ys for x0 in xs]
    with torch.inference_mode():
        for i in range(0, len(origins), batch):
            chunk = origins[i : i + batch]
            out_tiles = model(torch.stack([x[:, y : y + tile, x0 : x0 + tile] for y, x0 in chunk]))
            for (y, x0), t in zip(chunk, out_tiles, strict=True):
                logits[:, y : y + tile, x0 : x0 + tile] += t
                count[y : y + tile, x0 : x0 + tile] += 1
    classes = (logits / count).argmax(0).numpy().astype("uint8")
    with rasterio.open(out, "w", **(profile | {"count": 1, "dtype": "uint8", "nodata": 255})) as dst:
        dst.write(classes, 1)
    return len(origins)


def run_child(**kwargs: str) -> dict:
    command = [sys.executable, __file__, "--child"] + [
        f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items()
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="prithvi-300")
    parser.add_argument("--scene", type=int, default=448, help="side of the small scene; the large one is 4x")
    parser.add_argument("--tile", type=int, default=224)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--int8", action="store_true", help="also run the int8 ONNX model")
    parser.add_argument("--skip-large", action="store_true", help="only the small scene")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("mode", "scene-path", "adapter", "out", "onnx"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.scene = args.scene_path
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="geoadapters-bench-"))
    roofline = matmul_gflops()
    adapter = work / "adapter"
    gflop = make_adapter(args.model, adapter, args.tile, args.overlap, args.batch)
    scenes = {"small": make_scene(work / "small.tif", args.scene)}
    if not args.skip_large:
        scenes["16x"] = make_scene(work / "large.tif", 4 * args.scene)

    import geoadapters
    from geoadapters.inference.onnx import export_onnx, quantize_int8

    onnx_path = work / "model.onnx"
    exported = export_onnx(geoadapters.load(args.model, adapter), onnx_path)
    int8_path = work / "model.int8.onnx"
    quantized = quantize_int8(onnx_path, int8_path) if args.int8 else None

    rows = []
    for label, scene in scenes.items():
        runs = [("torch (streaming)", {"mode": "torch"}), ("naive whole-scene", {"mode": "naive"})]
        if label == "small":
            runs.append(("onnx fp32 (streaming)", {"mode": "onnx", "onnx": str(onnx_path)}))
            if args.int8:
                runs.append(("onnx int8 (streaming)", {"mode": "onnx", "onnx": str(int8_path)}))
        for name, extra in runs:
            result = run_child(
                model=args.model,
                scene_path=str(scene),
                adapter=str(adapter),
                out=str(work / "out.tif"),
                **extra,
            )
            result |= {"scene": label, "runtime": name}
            rows.append(result)
            print(
                f"  {label:<6} {name:<22} {result['seconds']:7.1f} s  {result['peak_mb']:7.0f} MB",
                file=sys.stderr,
            )

    threads = torch.get_num_threads()
    setup = f"tile {args.tile} (overlap {args.overlap}), batch {args.batch}, {threads} threads"
    print(f"\nmodel {args.model}, {setup}")
    print(f"fp32 matmul roofline: {roofline:.0f} GFLOP/s; model: {gflop:.1f} GFLOP per tile")
    print(f"ONNX export: {exported.exporter}, max |logit - torch| = {exported.max_abs_diff:.2e}")
    if quantized is not None:
        print(f"int8: pixel agreement with fp32 {quantized.agreement:.2%} (random weights and inputs)")
    print(f"scenes: small {args.scene} x {args.scene} px, 16x {4 * args.scene} x {4 * args.scene} px\n")
    print("| scene | runtime | tiles | seconds | tiles/s | GFLOP/s | of roofline | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["computed"] / r["seconds"]
        achieved = rate * gflop
        cells = [
            r["scene"],
            r["runtime"],
            r["computed"],
            f"{r['seconds']:.1f}",
            f"{rate:.2f}",
            f"{achieved:.0f}",
        ]
        cells += [f"{achieved / roofline:.2f}", f"{r['peak_mb']:.0f}"]
        print("| " + " | ".join(map(str, cells)) + " |")
    by = {(r["scene"], r["runtime"]): r for r in rows}
    if "16x" in scenes:
        for runtime in ("torch (streaming)", "naive whole-scene"):
            growth = by[("16x", runtime)]["peak_mb"] / by[("small", runtime)]["peak_mb"] - 1
            print(f"\npeak memory growth for 16x the area, {runtime}: {100 * growth:+.1f} %")
    for label in scenes:
        ratio = by[(label, "naive whole-scene")]["seconds"] / by[(label, "torch (streaming)")]["seconds"]
        print(f"{label}: naive / streaming time = {ratio:.2f}")


if __name__ == "__main__":
    main()
