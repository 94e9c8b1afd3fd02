"""Seconds per megapixel and peak memory of streaming predict as the scene grows, in one run.

For each size (default 2048, 4096 and 8192 px square: 4, 17 and 67 megapixels), the real Sentinel-2
chip of tests/data mirrored to fill it (`predict.make_scene`) is predicted by `predict_raster` in a
fresh process: the adapter is loaded first, then the peak memory counter is reset, so what is timed
and measured is the prediction alone (reading, tiling, the model, blending, the COG with overviews).
The adapter is the bundled offline model (128 px tiles), or a folder given with ``--adapter`` and its
base's local ``--checkpoint``. Each size runs ``--rounds`` times, alternated; the best is reported.

Run: PYTHONPATH=. python benchmarks/per_pixel.py [--sizes 2048 4096 8192] [--rounds 2]
    [--adapter FOLDER --checkpoint FILE] [--precision fp32]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict import _ENV, make_scene

import geoadapters

# One prediction in its own process: load, reset the peak (loading is not prediction), predict.
_STEP = """
import json, sys, time
from pathlib import Path
import geoadapters
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
adapter, checkpoint, scene, out, precision = sys.argv[1:]
model = geoadapters.load(adapter, checkpoint=checkpoint or None, merged=True)
runner = TorchRunner(model, precision=precision)
Path("/proc/self/clear_refs").write_text("5")
start = time.perf_counter()
report = predict_raster(scene, out, runner, overwrite=True)
seconds = time.perf_counter() - start
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"seconds": seconds, "tiles": report.tiles, "peak_mb": peak}))
"""


def predict_once(args: argparse.Namespace, scene: Path, out: Path) -> dict[str, float]:
    """One prediction of `scene` in a fresh process: its seconds, tiles and peak memory."""
    command = [sys.executable, "-c", _STEP, str(args.adapter), str(args.checkpoint or ""), str(scene)]
    command += [str(out), args.precision]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=_ENV)
    if result.returncode:
        raise RuntimeError(f"prediction failed:\n{result.stderr[-3000:]}")
    answer: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--adapter", default=geoadapters.DEFAULT_ADAPTER)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenes = {size: make_scene(work / f"scene_{size}.tif", size) for size in args.sizes}
        runs: dict[int, list[dict[str, float]]] = {size: [] for size in args.sizes}
        for _ in range(args.rounds):
            for size, scene in scenes.items():
                runs[size].append(predict_once(args, scene, work / f"pred_{size}.tif"))
    print(f"adapter {args.adapter}, {args.precision}, best of {args.rounds} alternated rounds")
    print("| scene | megapixels | tiles | s | s per megapixel | peak MB |")
    print("|---|---|---|---|---|---|")
    rates = []
    for size, results in runs.items():
        best = min(results, key=lambda r: r["seconds"])
        megapixels = size * size / 1e6
        rates.append(best["seconds"] / megapixels)
        print(
            f"| {size} x {size} | {megapixels:.1f} | {best['tiles']:.0f} | {best['seconds']:.1f} | "
            f"{rates[-1]:.3f} | {max(r['peak_mb'] for r in results):.0f} |"
        )
    print(f"s per megapixel: largest / smallest {max(rates) / min(rates):.2f}")


if __name__ == "__main__":
    main()
