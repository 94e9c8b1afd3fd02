"""Prediction speed and memory: streaming predict vs a whole-scene tiler, the CLI's whole process, ONNX.

For one model, on a scene and on one 4 times its side, the script measures in one run:

- the machine's fp32 matmul GFLOP/s (the roofline), several times before and after the runs; the
  best is used, and a warning is printed when one is far below it (other processes were running);
- `geoadapters.predict_raster` with torch: tiles/s, achieved GFLOP/s (reading and writing included),
  and the peak memory of the prediction alone; the same for a naive tiler (the whole scene read into
  memory, every tile's logits summed into whole-scene arrays, written at the end), the baseline;
- the whole process of the CLI (``geoadapters predict``, start to exit) on the small scene, and beside
  it the fixed costs measured the same way in one process: import torch, import geoadapters, build the
  model, load its weights, the first tile, the rest of the prediction, exit; ``--whole-large`` adds
  the large scene; ``--before CHECKOUT`` times that checkout's CLI too (another commit of this
  repository), alternated with this one's; ``--bf16`` adds ``--precision bf16`` (for CPUs with native
  bf16 units): a streaming row, the share of pixels that keep their fp32 class, the whole process;
- with ``--terratorch PYTHON`` (the python of a virtual environment with TerraTorch), TerraTorch's own
  CLI on the same scenes the same way, alternated with ours: ``terratorch predict -c config.yaml
  --ckpt_path CKPT`` with the config a TerraTorch user writes for this model (the same backbone,
  bands, base checkpoint file and normalisation, LoRA through its ``peft_config``, its
  ``LinearDecoder``, tiled inference at our tile and batch and its own stride (192), the generic
  GeoTIFF datamodule; ``benchmarks/terratorch_side.py``) on a fine-tuned checkpoint that TerraTorch
  itself writes in a setup step, as shipped and in fp32 (its ``terratorch_FLOAT_32_PRECISION=highest``:
  its Clay module lowers torch's matmul precision when imported); each written class map is checked to
  cover the whole scene, and the ratios of the best runs are printed;
- with ``--onnx``, onnxruntime fp32 on both scenes; ``--int8`` adds the int8 model, with the share
  of pixels whose class is the same as with fp32, and the whole process of ``geoadapters predict
  --runtime onnx --precision int8`` (the export cached by an untimed first run) beside the others.

Every measured step runs in a fresh process, so each peak memory is its own; the benchmark process
itself builds no model and holds no scene (it prints its own peak). Scenes mirror the real
Sentinel-2 chip of tests/data, written strip by strip. Weights are random (nothing is downloaded):
speed and memory do not depend on them. The adapter is a LoRA (r 16, the paper's targets) with a
linear head, on the base's checkpoint written in its official layout to a local file, as a user
predicts offline (``--checkpoint``). The default run takes 3 to 4 minutes on a 2-core CPU.

With ``--before`` or ``--terratorch`` the CLIs run in 3 rounds (this one's, the other checkout's,
TerraTorch's); the best of each is reported. ``--whole-large --terratorch`` takes about 8 minutes.

Run: python benchmarks/predict.py [--model prithvi-100] [--scene 512] [--onnx] [--int8] [--whole-large]
    [--before CHECKOUT] [--terratorch PYTHON]
"""

import argparse
import inspect
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from geoadapters.catalog import get_base
from geoadapters.config import Inference
from geoadapters.specs import PrithviArch

ROOT = Path(__file__).resolve().parents[1]
CHIP = ROOT / "tests" / "data" / "sen1floods11" / "Spain_7370579_S2Hand.tif"
DEMO_ADAPTER = ROOT / "geoadapters" / "default" / "sen1floods11-tiny"  # its input contract is the paper's
# A roofline below this share of the best one means the machine was busy.
BUSY = 0.75


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul GFLOP/s of this process's torch threads: the best of `repeats`."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def make_scene(path: Path, size: int) -> Path:
    """A size x size scene: the real chip mirrored to fill it, same pixel size and CRS, strip by strip."""
    with rasterio.open(CHIP) as src:
        data = src.read()
        profile = src.profile | {"height": size, "width": size, "tiled": True}
        profile |= {"blockxsize": 256, "blockysize": 256}
        descriptions = src.descriptions
    rows = np.pad(np.arange(data.shape[1]), (0, max(0, size - data.shape[1])), mode="symmetric")[:size]
    cols = np.pad(np.arange(data.shape[2]), (0, max(0, size - data.shape[2])), mode="symmetric")[:size]
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 256):
            block = rows[top : top + 256]
            dst.write(data[:, block][:, :, cols], window=Window(0, top, size, len(block)))
        for i, d in enumerate(descriptions, start=1):
            dst.set_band_description(i, d)
    return path


# ---- steps, each run in its own process (`--step NAME`) -------------------------------------------


def step_setup(args: argparse.Namespace) -> dict[str, Any]:
    """Write the base checkpoint; create and save the adapter; count one tile's FLOP; export if asked."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import geoadapters
    from geoadapters.catalog import get_base
    from geoadapters.config import AdapterConfig
    from tests.models.official import prithvi_checkpoint

    base = get_base(args.model)
    arch = base.arch
    if not isinstance(arch, PrithviArch):
        raise SystemExit(f"the benchmark writes Prithvi checkpoints; {args.model} is no Prithvi")
    v1 = base.weights.filename.startswith("Prithvi_EO_V1")
    prithvi_checkpoint(args.checkpoint, dim=arch.embed_dim, depth=arch.depth, version=1 if v1 else 2)
    inference = Inference(tile_size=args.tile, overlap=args.overlap, batch_size=args.batch)
    spec = AdapterConfig.read(DEMO_ADAPTER / "geoadapter.json").input
    torch.manual_seed(0)
    net = geoadapters.create(
        args.model, "lora", "linear", classes=["not water", "water"], checkpoint=args.checkpoint,
        input=spec, inference=inference,
    )  # fmt: skip
    with torch.no_grad():  # LoRA's B starts at zero: move the adapter away from a no-op
        for p in net.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
    net.save_pretrained(args.adapter)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net.eval()(torch.zeros(1, len(spec.bands), args.tile, args.tile))
    result: dict[str, Any] = {"gflop": counter.get_total_flops() / 1e9}
    if args.onnx:
        from geoadapters.inference.export import export_onnx, quantize_int8

        exported = export_onnx(net, args.work / "model.onnx")
        result |= {"exporter": exported.exporter, "max_abs_diff": exported.max_abs_diff}
        if args.int8:
            quantize_int8(args.work / "model.onnx", args.work / "model.int8.onnx")
    return result | {"peak_mb": peak_memory_mb()}


def step_predict(args: argparse.Namespace) -> dict[str, Any]:
    """One prediction (model loading excluded from time and peak memory)."""
    import geoadapters
    from geoadapters.inference.onnx_runner import OnnxRunner
    from geoadapters.inference.predict import predict_raster
    from geoadapters.inference.torch_runner import TorchRunner

    if args.runtime == "onnx":
        runner: Any = OnnxRunner(args.onnx_file, device="cpu")
    else:
        model = geoadapters.load(str(args.adapter), checkpoint=args.checkpoint, merged=True)
        runner = TorchRunner(model, precision=args.precision or "fp32")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: loading is not prediction
    start = time.perf_counter()
    if args.runtime == "naive":
        tiles = computed = naive_predict(args.scene_file, model, args.out)
    else:
        report = predict_raster(args.scene_file, args.out, runner, overwrite=True)
        tiles, computed = report.tiles, report.computed
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tiles": tiles, "computed": computed, "peak_mb": peak_memory_mb()}


def naive_predict(scene: Path, model: Any, out: Path) -> int:
    """Whole scene in memory, TerraTorch-style: tiles at a fixed stride, logits summed over the scene."""
    import torch

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


def step_phases(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's fixed costs in the order it pays them, as wall-clock stamps (the parent adds exit)."""
    stamps = {"start": time.time()}
    import torch  # noqa: F401

    stamps["import torch"] = time.time()
    from geoadapters.cli.main import main  # noqa: F401  (what the command imports first)
    from geoadapters.factory import build_model
    from geoadapters.hub.folder import read_tensors
    from geoadapters.inference.predict import predict_raster

    try:
        from geoadapters.inference.torch_runner import TorchRunner
    except ImportError:  # a --before checkout from before the runners' modules were split
        from geoadapters.inference.runners import TorchRunner  # type: ignore[attr-defined, no-redef]

    stamps["import geoadapters"] = time.time()
    # the steps of `geoadapters.load(..., merged=True)`, as the CLI loads (a --before checkout may
    # predate merged loading: then as it loads)
    merged: dict[str, Any] = {"merged": True} if "merged" in inspect.signature(build_model).parameters else {}
    try:  # the adapter resolved and checked as load does; a --before checkout may predate the resolver
        from geoadapters.factory import check_buildable
        from geoadapters.references import resolve_adapter

        source = resolve_adapter(str(args.adapter))
        folder, config = source.path, source.config
        check_buildable(config, folder, **merged)
    except ImportError:
        from geoadapters.factory import read_adapter

        folder, config = read_adapter(None, str(args.adapter), **merged)
    model = build_model(config, checkpoint=args.checkpoint, **merged)
    stamps["build"] = time.time()
    model.load_adapter_state_dict(read_tensors(folder))
    runner = TorchRunner(model.eval())
    stamps["load"] = time.time()
    tile = config.inference.tile_size
    runner(np.zeros((1, len(config.input.bands), tile, tile), np.float32))
    stamps["first tile"] = time.time()
    predict_raster(args.scene_file, args.out, runner, overwrite=True)
    stamps["prediction"] = time.time()
    return stamps


STEPS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "setup": step_setup,
    "predict": step_predict,
    "phases": step_phases,
}


def run_step(args: argparse.Namespace, step: str, checkout: Path = ROOT, **extra: object) -> dict[str, Any]:
    """Run `step` in a fresh process with `checkout`'s geoadapters; its JSON result, with ``exited``."""
    options = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in _SHARED]
    options += [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    command = [sys.executable, __file__, f"--step={step}", *options]
    command += [flag for flag in ("--onnx", "--int8") if getattr(args, flag[2:])]
    env = _ENV | {"PYTHONPATH": os.pathsep.join([str(checkout), str(ROOT)])}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    exited = time.time()
    if result.returncode:
        raise RuntimeError(f"step {step} failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer | {"exited": exited}


def time_cli(
    scene: Path, args: argparse.Namespace, out: Path, checkout: Path = ROOT, options: tuple[str, ...] = ()
) -> float:
    """Seconds of `checkout`'s ``geoadapters predict [options]``, process start to exit (the console entry).

    The ONNX export cache is the benchmark's own (``--runtime onnx`` exports on its first run).
    """
    entry = "import sys; from geoadapters.cli.main import main; sys.argv[0] = 'geoadapters'; main()"
    command = [sys.executable, "-c", entry, "predict", str(scene), "--model", args.model]
    command += ["--adapter", str(args.adapter), "--checkpoint", str(args.checkpoint)]
    command += ["-o", str(out), "--overwrite", *options]
    env = _ENV | {"PYTHONPATH": str(checkout), "GEOADAPTERS_CACHE": str(args.work / "cache")}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=checkout)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"geoadapters predict failed:\n{result.stderr[-3000:]}")
    return seconds


def setup_terratorch(args: argparse.Namespace, scenes: dict[str, Path]) -> dict[str, Any]:
    """TerraTorch's config for our adapter's model and contract, and its checkpoint written by TerraTorch."""
    import yaml
    from terratorch_side import terratorch_config  # beside this file

    from geoadapters.bands import canonical
    from geoadapters.config import AdapterConfig
    from geoadapters.convert.terratorch import BACKBONES
    from geoadapters.methods.settings import LoraSettings

    config = AdapterConfig.read(args.adapter / "geoadapter.json")
    spec, method = config.input, config.method
    arch = get_base(args.model).arch
    if not isinstance(arch, PrithviArch):
        raise SystemExit(f"--terratorch times Prithvi models, not {args.model}")
    if not isinstance(method, LoraSettings) or config.head.name != "linear":
        raise SystemExit(f"--terratorch times LoRA + linear head, not {method.name} + {config.head.name}")
    with rasterio.open(next(iter(scenes.values()))) as src:
        scene_bands = [canonical(d) for d in src.descriptions]
    tt = args.work / "terratorch"
    tt.mkdir()
    content = terratorch_config(
        backbone={v: k for k, v in BACKBONES.items()}[args.model],
        backbone_checkpoint=args.checkpoint,
        scene_bands=scene_bands,
        bands=spec.bands,
        mean=[m / spec.scale for m in spec.mean],
        std=[s / spec.scale for s in spec.std],
        nodata=spec.nodata,
        classes=len(config.classes),
        patch=arch.patch_size,
        rank=method.r,
        alpha=method.lora_alpha,
        tile=args.tile,
        overlap=args.tile - args.terratorch_stride,
        batch=args.batch,
        root=tt / "run",
    )
    (tt / "config.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    for scene in scenes.values():  # the datamodule reads a folder: one per scene
        folder = tt / scene.stem
        folder.mkdir()
        os.link(scene, folder / scene.name)
    command = [str(args.terratorch), str(Path(__file__).with_name("terratorch_side.py")), "setup"]
    command += [str(tt / "config.yaml"), str(tt / "model.ckpt")]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=_TT_ENV, cwd=tt)
    if result.returncode:
        raise RuntimeError(f"TerraTorch setup failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def time_terratorch(scene: Path, args: argparse.Namespace, matmul: str | None = None) -> tuple[float, float]:
    """Seconds of ``terratorch predict`` on `scene`'s folder, process start to exit, and the share of
    class 1 in the class map it wrote, checked to cover the scene.

    `matmul`: torch's float32 matmul precision, set by TerraTorch's own ``terratorch_FLOAT_32_PRECISION``
    (``highest``: fp32); None: as shipped (its Clay module lowers it to ``medium`` when imported, which
    runs fp32 matmuls on bf16 units where the CPU has them).
    """
    tt = args.work / "terratorch"
    out = tt / "out"
    if out.exists():
        for old in out.iterdir():
            old.unlink()
    command = [str(Path(args.terratorch).with_name("terratorch")), "predict", "-c", str(tt / "config.yaml")]
    command += ["--ckpt_path", str(tt / "model.ckpt"), "--predict_output_dir", str(out)]
    command += ["--data.init_args.predict_data_root", str(tt / scene.stem)]
    start = time.perf_counter()
    env = _TT_ENV | ({"terratorch_FLOAT_32_PRECISION": matmul} if matmul else {})
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=tt)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"terratorch predict failed:\n{result.stderr[-3000:]}")
    written = out / f"{scene.stem}_pred.tif"
    with rasterio.open(scene) as src, rasterio.open(written) as dst:
        classes = dst.read()
        if (dst.count, dst.height, dst.width) != (1, src.height, src.width):
            raise RuntimeError(f"TerraTorch wrote {dst.count} x {dst.height} x {dst.width} for {src.shape}")
    missed = float(np.mean(~np.isin(classes, [0, 1])))  # -1 marks nodata: a missed pixel would show as one
    if missed:
        raise RuntimeError(f"TerraTorch left {missed:.2%} of the scene unclassified")
    return seconds, float(np.mean(classes == 1))


def agreement(a: Path, b: Path) -> float:
    """Share of pixels with the same class in two class maps."""
    with rasterio.open(a) as x, rasterio.open(b) as y:
        return float((x.read(1) == y.read(1)).mean())


INT8_CLI = ("--runtime", "onnx", "--precision", "int8")
_SHARED = ("model", "tile", "overlap", "batch", "adapter", "checkpoint", "work")
_ENV = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
# TerraTorch runs in its own environment, offline (nothing can be downloaded).
_TT_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
_TT_ENV["HF_HUB_OFFLINE"] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="prithvi-100")
    parser.add_argument("--scene", type=int, default=512, help="side of the small scene; the large is 4x")
    parser.add_argument("--tile", type=int, default=224)
    parser.add_argument("--overlap", type=int, default=Inference().overlap, help="ours (default: our own)")
    parser.add_argument(
        "--terratorch-stride", type=int, default=192, help="TerraTorch's tiling stride (default: its own)"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--onnx", action="store_true", help="also run onnxruntime fp32")
    parser.add_argument("--int8", action="store_true", help="also run the int8 ONNX model (implies --onnx)")
    parser.add_argument("--bf16", action="store_true", help="also time the CLI with --precision bf16")
    parser.add_argument("--skip-large", action="store_true", help="only the small scene")
    parser.add_argument("--whole-large", action="store_true", help="also time the CLI on the large scene")
    parser.add_argument(
        "--before", type=Path, help="another checkout (git worktree) whose CLI is timed too, alternated"
    )
    parser.add_argument(
        "--terratorch", type=Path, help="python of a TerraTorch environment: its CLI is timed too, alternated"
    )
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    for name in ("adapter", "checkpoint", "work", "scene-file", "out", "onnx-file"):
        parser.add_argument(f"--{name}", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--runtime", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.onnx = args.onnx or args.int8
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        sys.stdout.flush()
        os._exit(0)  # as the CLI does: no interpreter teardown

    with tempfile.TemporaryDirectory(prefix="geoadapters-bench-") as work:
        args.work = Path(work)
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Run every step in `args.work` and print the report."""
    began = time.perf_counter()
    rooflines = [matmul_gflops() for _ in range(3)]
    args.adapter = args.work / "adapter"
    args.checkpoint = args.work / get_base(args.model).weights.filename
    setup = run_step(args, "setup")
    scenes = {f"{args.scene} x {args.scene}": make_scene(args.work / "small.tif", args.scene)}
    if not args.skip_large:
        side = 4 * args.scene
        scenes[f"{side} x {side}"] = make_scene(args.work / "large.tif", side)
    small = next(iter(scenes))

    rows: list[dict[str, Any]] = []
    for label, scene in scenes.items():
        runs = [("torch, streaming", "torch", None), ("naive whole-scene tiler", "naive", None)]
        if args.bf16:
            runs.append(("torch bf16, streaming", "torch-bf16", None))
        if args.onnx:
            runs.append(("onnxruntime fp32, streaming", "onnx", args.work / "model.onnx"))
        if args.int8:
            runs.append(("onnxruntime int8, streaming", "onnx", args.work / "model.int8.onnx"))
        for name, runtime, onnx_file in runs:
            out = args.work / f"{runtime}-{len(rows)}.tif"
            extra = {"runtime": runtime.removesuffix("-bf16"), "scene_file": scene, "out": out}
            extra |= {"precision": "bf16"} if runtime.endswith("-bf16") else {}
            result = run_step(args, "predict", **extra, **({"onnx_file": onnx_file} if onnx_file else {}))
            rows.append(result | {"scene": label, "name": name, "out": out})
            print(f"  {label} {name}: {result['seconds']:.1f} s", file=sys.stderr)

    if args.terratorch is not None:
        timed = {k: v for k, v in scenes.items() if k == small or args.whole_large}
        setup["terratorch"] = setup_terratorch(args, timed)
    variants = whole_variants(args)
    whole = []
    for label, scene in scenes.items():
        if label != small and not args.whole_large:
            continue
        if args.int8:  # its first run exports and quantises the model into the cache: not timed
            time_cli(scene, args, args.work / "int8.tif", options=INT8_CLI)
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        share = 0.0
        for _ in range(3 if len(variants) > 1 else 1):  # alternated
            for name, run in variants.items():
                took, shared = run(scene)
                seconds[name].append(took)
                share = shared if shared is not None else share
        phases = []
        for checkout in [ROOT] + ([args.before] if args.before is not None else []):
            launched = time.time()
            stamps = run_step(args, "phases", checkout, scene_file=scene, out=args.work / "phases.tif")
            phases.append((checkout, launched, stamps))
        whole.append((label, seconds, share, phases))
        print(f"  {label} geoadapters predict: {min(seconds[OURS]):.1f} s", file=sys.stderr)
    rooflines += [matmul_gflops() for _ in range(3)]
    report(args, setup, rooflines, rows, whole, time.perf_counter() - began)


OURS = "geoadapters predict"
TT_SHIPPED, TT_FP32 = "terratorch predict, as shipped", "terratorch predict, fp32"


def whole_variants(args: argparse.Namespace) -> dict[str, Callable[[Path], tuple[float, float | None]]]:
    """The whole-process runs, by name: each gives its seconds (and TerraTorch its class 1 share)."""
    out = args.work

    def cli(options: tuple[str, ...] = (), checkout: Path = ROOT) -> Callable[[Path], tuple[float, None]]:
        return lambda scene: (time_cli(scene, args, out / "cli.tif", checkout, options), None)

    variants: dict[str, Callable[[Path], tuple[float, float | None]]] = {OURS: cli()}
    if args.bf16:
        variants[f"{OURS} --precision bf16"] = cli(("--precision", "bf16"))
    if args.int8:
        variants[f"{OURS} {' '.join(INT8_CLI)}"] = cli(INT8_CLI)
    if args.before is not None:
        variants[f"{OURS}, {args.before}"] = cli(checkout=args.before)
    if args.terratorch is not None:
        variants[TT_SHIPPED] = lambda scene: time_terratorch(scene, args)
        variants[TT_FP32] = lambda scene: time_terratorch(scene, args, "highest")
    return variants


def report(
    args: argparse.Namespace,
    setup: dict[str, Any],
    rooflines: list[float],
    rows: list[dict[str, Any]],
    whole: list[tuple[str, dict[str, list[float]], float, list[tuple[Path, float, dict[str, Any]]]]],
    total: float,
) -> None:
    """Print the tables."""
    import torch

    roofline, gflop = max(rooflines), setup["gflop"]
    setting = (
        f"tile {args.tile} (overlap {args.overlap}), batch {args.batch}, {torch.get_num_threads()} threads"
    )
    print(f"\nmodel {args.model}, {setting}; {gflop:.1f} GFLOP per tile")
    print(f"fp32 matmul roofline: best {roofline:.0f} GFLOP/s of " + ", ".join(f"{r:.0f}" for r in rooflines))
    if min(rooflines) < BUSY * roofline:
        print(
            f"WARNING: the machine was busy: a roofline of {min(rooflines):.0f} GFLOP/s against the best "
            f"{roofline:.0f}; other processes took CPU time, so these figures are slower than this machine"
        )
    print("\n| scene | runtime | tiles | seconds | tiles/s | GFLOP/s | of roofline | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["computed"] / r["seconds"]
        low = next((p for p in ("int8", "bf16") if p in r["name"]), None)
        of_roofline = f"({low})" if low else f"{rate * gflop / roofline:.2f}"
        cells = [r["scene"], r["name"], r["computed"], f"{r['seconds']:.1f}", f"{rate:.2f}"]
        cells += [f"{rate * gflop:.0f}", of_roofline, f"{r['peak_mb']:.0f}"]
        print("| " + " | ".join(map(str, cells)) + " |")
    by = {(r["scene"], r["name"]): r for r in rows}
    scenes = list(dict.fromkeys(r["scene"] for r in rows))
    if len(scenes) > 1:
        for name in ("torch, streaming", "naive whole-scene tiler"):
            growth = by[(scenes[1], name)]["peak_mb"] / by[(scenes[0], name)]["peak_mb"] - 1
            print(f"peak memory for 16x the area, {name}: {100 * growth:+.1f} %")
    if args.bf16:
        for scene in scenes:
            fp32, bf16 = by[(scene, "torch, streaming")], by[(scene, "torch bf16, streaming")]
            kept = agreement(fp32["out"], bf16["out"])
            print(f"bf16, {scene}: {kept:.2%} of pixels have the class of fp32 (random weights)")
    if args.onnx:
        print(f"ONNX export: {setup['exporter']}, max |logit - torch| = {setup['max_abs_diff']:.2e}")
    if args.int8:
        fp32 = by[(scenes[0], "onnxruntime fp32, streaming")]
        int8 = by[(scenes[0], "onnxruntime int8, streaming")]
        print(
            f"int8: {agreement(fp32['out'], int8['out']):.2%} of pixels have the class of fp32 "
            "(random weights)"
        )
    if "terratorch" in setup:
        tt = setup["terratorch"]
        print(
            f"\nTerraTorch ({args.terratorch}): {tt['parameters']:,} parameters ({tt['trainable']:,} "
            f"trainable, {tt['lora_tensors']} LoRA tensors), checkpoint {tt['checkpoint_mb']:.0f} MB, "
            "config:\n" + (args.work / "terratorch" / "config.yaml").read_text()
        )
    for label, seconds, share, phases in whole:
        print(f"\n{label}, whole processes (start to exit), best of alternated rounds:\n")
        print(f"| run | seconds | best s | {TT_FP32} / this | {TT_SHIPPED} / this |")
        print("|---|---|---|---|---|")
        best = {name: min(runs) for name, runs in seconds.items()}
        for name, runs in seconds.items():
            ratios = [f"{best[tt] / best[name]:.2f}x" if tt in best else "-" for tt in (TT_FP32, TT_SHIPPED)]
            cells = [f"`{name}`", ", ".join(f"{s:.1f}" for s in runs), f"{best[name]:.1f}", *ratios]
            print("| " + " | ".join(cells) + " |")
        if TT_SHIPPED in best:
            print(f"\nTerraTorch's class maps cover the scene ({share:.1%} class 1)")
        for checkout, launched, stamps in phases:
            names = [name for name in stamps if name != "exited"]
            cells = [f"{b} {stamps[b] - stamps[a]:.2f}" for a, b in itertools.pairwise(names)]
            where = "this checkout" if checkout == ROOT else checkout
            print(
                f"{label} in one process ({where}): interpreter start {stamps['start'] - launched:.2f}, "
                + ", ".join(cells)
                + f", exit {_exited(stamps):.2f} s"
            )
    print(
        f"\nbenchmark process peak memory {peak_memory_mb():.0f} MB (setup step: {setup['peak_mb']:.0f} MB)"
    )
    print(f"total time {total:.0f} s")


def _exited(stamps: dict[str, Any]) -> float:
    return float(stamps["exited"] - stamps["prediction"])


if __name__ == "__main__":
    main()
