"""Scenes per minute on a Dask cluster against one process, and what the cluster costs, in one run.

For the bundled model (sen1floods11-tiny), or an adapter folder given with `--adapter` (and its base's
local `--checkpoint`), on `--scenes` scenes of `--size` px (the real Sentinel-2 chip of tests/data
mirrored to fill them), the script measures:

- one process: `predict_raster` over the scenes in turn (the model loaded once, torch's threads);
- `predict_many` on a `LocalCluster` of 1 and of 2 worker processes (1 Dask thread each, torch
  threads = cores / workers, as `predict_many` sets them): the cluster's start-up, a first run (each
  worker loads the model) and a second run (warm: the rate reported), and the round trip of an empty
  task (the per-task overhead);
- one scene of `--huge` px: one process against 2 workers with ``split=2``.

Every run writes fresh outputs (``overwrite``). Runs: best of `--repeats`.

Run: PYTHONPATH=. python benchmarks/scale.py [--scenes 8] [--size 512] [--huge 1536] [--repeats 1]
    [--adapter FOLDER --checkpoint FILE]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from predict import make_scene

from geoadapters.default import DEFAULT_ADAPTER
from geoadapters.inference.cluster import local_client
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.request import ModelRef
from geoadapters.inference.scenes import predict_many

EMPTY_TASKS = 50


def one_process(ref: ModelRef, scenes: list[Path], out: Path, repeats: int) -> float:
    """Best wall seconds of predicting the scenes in turn in this process (model loaded beforehand)."""
    runner = ref.load()
    predict_raster(scenes[0], out / "warm.tif", runner, overwrite=True)  # torch's first-call set-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for scene in scenes:
            predict_raster(scene, out / f"{scene.stem}_pred.tif", runner, overwrite=True)
        best = min(best, time.perf_counter() - start)
    return best


def on_cluster(
    ref: ModelRef, scenes: list[Path], out: Path, workers: int, repeats: int, split: int = 1
) -> dict[str, float]:
    """Start-up, first run, best warm run and empty-task round trip (s) on a local cluster."""
    start = time.perf_counter()
    with local_client(workers) as client:  # as predict_many starts one
        client.wait_for_workers(workers)
        startup = time.perf_counter() - start
        runs = []
        for _ in range(1 + repeats):
            start = time.perf_counter()
            report = predict_many(scenes, ref, out, client=client, overwrite=True, split=split)
            runs.append(time.perf_counter() - start)
            assert report.count("done") == len(scenes), report.failed
        threads = sorted(set(client.run(torch.get_num_threads).values()))
        start = time.perf_counter()
        client.gather(client.map(abs, range(EMPTY_TASKS), pure=False))
        task = (time.perf_counter() - start) / EMPTY_TASKS
    return {"startup": startup, "first": runs[0], "warm": min(runs[1:]), "task": task, "threads": threads[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--huge", type=int, default=1536, help="side of the split scene (0: skip)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--adapter", default=str(DEFAULT_ADAPTER), help="adapter folder (default: bundled)")
    parser.add_argument("--checkpoint", help="local copy of the adapter's base checkpoint")
    args = parser.parse_args()
    ref = ModelRef(args.adapter, checkpoint=args.checkpoint)
    folder = Path(tempfile.mkdtemp(prefix="geoadapters-scale-"))
    scenes = [make_scene(folder / f"scene{i}.tif", args.size) for i in range(args.scenes)]
    print(f"{os.cpu_count()} CPU cores; {args.scenes} scenes of {args.size} x {args.size} px; {args.adapter}")
    print("| run | torch threads per worker | start-up s | first run s | warm run s | scenes/min | task ms |")
    print("|---|---|---|---|---|---|---|")
    seconds = one_process(ref, scenes, folder, args.repeats)
    rate = args.scenes / seconds * 60
    print(f"| 1 process | {torch.get_num_threads()} | - | - | {seconds:.1f} | {rate:.1f} | - |")
    for workers in (1, 2):
        m = on_cluster(ref, scenes, folder / f"w{workers}", workers, args.repeats)
        name = f"{workers} worker{'s' * (workers > 1)}"
        print(
            f"| {name} | {m['threads']} | {m['startup']:.1f} | {m['first']:.1f} | {m['warm']:.1f} | "
            f"{args.scenes / m['warm'] * 60:.1f} | {m['task'] * 1e3:.1f} |"
        )
    if args.huge:
        huge = [make_scene(folder / "huge.tif", args.huge)]
        seconds = one_process(ref, huge, folder, args.repeats)
        m = on_cluster(ref, huge, folder / "split", 2, args.repeats, split=2)
        print(f"\nOne {args.huge} x {args.huge} px scene: 1 process {seconds:.1f} s, 2 workers with split=2 "
              f"{m['warm']:.1f} s warm ({seconds / m['warm']:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
