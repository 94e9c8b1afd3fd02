"""Several adapters in one pass against one run each, and the service's latency, throughput and memory.

In one run, on one scene (the repository's chip mirrored to 512 x 512 px):

1. K adapters (K = 1, 3, 8 cycling LoRA, VPT, linear probe; and 3 LoRAs) predicted in one pass over
   the scene (`AdapterSet.predict_raster`: each tile read once, prepared once per contract), with LoRA,
   VPT and probes batched through one pass of the base per prompt count (after) and with each LoRA
   and VPT adapter on its own adapted encoder (before), against K runs of one adapter each, on the
   same resident base; the arms alternate, each figure is the median of 3 rounds;
2. the service (`geoadapters serve`'s app on uvicorn, 127.0.0.1) answering 200 uploads of a 224 x 224
   px scene from 4 concurrent clients, all for one adapter, then spread over 3: p50/p95 latency,
   throughput, and the process's resident memory sampled every 0.2 s.

The base is prithvi-100's family shrunk to depth 4, width 256 (random weights: nothing is downloaded),
so the run takes a few minutes on a laptop CPU. Run: PYTHONPATH=. python benchmarks/many_adapters.py
"""

import dataclasses
import json
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from predict import make_scene
from resident_adapters import write_adapters

import geoadapters
from geoadapters.adapter_set import AdapterSet
from geoadapters.inference.jobs import plan_jobs
from geoadapters.inference.predict import predict_jobs
from geoadapters.inference.request import PredictOptions
from geoadapters.inference.set_runner import SetRunner

_BASE = geoadapters.get_base("prithvi-100")
_ARCH = dataclasses.replace(_BASE.arch, depth=4, embed_dim=256, num_heads=4)
BASE = geoadapters.register_base(
    dataclasses.replace(_BASE, name="prithvi-bench", arch=_ARCH, description="prithvi-100 shrunk")
).name


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def predict_once(resident: AdapterSet, names: list[str], scene: Path, out: Path, *, batched: bool) -> float:
    """Seconds of one `AdapterSet.predict_raster` of `names`, with or without the batched encoder pass."""
    started = time.perf_counter()
    jobs = [plan_jobs([scene], out, label=name)[0] for name in names]  # as AdapterSet.predict_raster does
    predict_jobs(jobs, SetRunner(resident, names, "cpu", batched=batched), PredictOptions(), overwrite=True)
    return time.perf_counter() - started


def one_pass_vs_runs(paths: list[Path], scene: Path, out: Path, rounds: int = 3) -> list[dict[str, object]]:
    """Median seconds of K adapters in one pass, batched (after) and each adapter's own encoder
    (before), and of K runs of one adapter each; the arms alternate within each round."""
    cases = {"1": paths[:1], "3": paths[:3], "8": paths[:8], "3 lora": paths[8:11]}
    rows: list[dict[str, object]] = []
    for case, chosen in cases.items():
        resident = AdapterSet(BASE, pretrained=False)
        names = [f"a{i}" for i in range(len(chosen))]
        for name, path in zip(names, chosen, strict=True):
            resident.add(name, path)
        predict_once(resident, names[:1], scene, out / "warm", batched=True)
        times: dict[str, list[float]] = {"batched_s": [], "own_encoders_s": [], "k_runs_s": []}
        for round_ in range(rounds):
            order = (True, False) if round_ % 2 == 0 else (False, True)
            for batched in order:
                arm = "batched_s" if batched else "own_encoders_s"
                times[arm].append(predict_once(resident, names, scene, out / arm, batched=batched))
            started = time.perf_counter()
            for name in names:
                predict_once(resident, [name], scene, out / "runs", batched=True)
            times["k_runs_s"].append(time.perf_counter() - started)
        row: dict[str, object] = {"adapters": case, "methods": [p.name.split("-", 1)[1] for p in chosen]}
        row |= {arm: float(np.median(values)) for arm, values in times.items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def service(paths: list[Path], scene: Path, requests: int = 200, clients: int = 4) -> list[dict[str, float]]:
    import httpx
    import uvicorn

    from geoadapters.resident import ResidentAdapters
    from geoadapters.serve.app import create_app
    from geoadapters.serve.settings import ServeSettings

    resident = ResidentAdapters(2.0, pretrained=False, device="cpu")
    offered = tuple(map(str, paths[:3]))
    settings = ServeSettings(concurrency=2, queue=requests, budget_gb=2.0, available=offered)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, resident), host="127.0.0.1", port=port,
                                           log_level="error"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    url, data = f"http://127.0.0.1:{port}/predict", scene.read_bytes()
    memory: list[float] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(0.2):
            memory.append(rss_mb())

    threading.Thread(target=sample, daemon=True).start()
    rows = []
    with httpx.Client(timeout=300) as client:
        for count in (1, 3):

            def call(i: int, count: int = count) -> float:
                started = time.perf_counter()
                answer = client.post(
                    url, files={"file": ("s.tif", data)}, data={"adapter": offered[i % count]}
                )
                assert answer.status_code == 200, answer.text
                return time.perf_counter() - started

            call(0)
            before = len(memory)
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                latencies = list(pool.map(call, range(requests)))
            wall = time.perf_counter() - started
            during = memory[before:] or [rss_mb()]
            rows.append({
                "adapters": count, "requests": requests, "p50_ms": 1e3 * float(np.percentile(latencies, 50)),
                "p95_ms": 1e3 * float(np.percentile(latencies, 95)), "per_s": requests / wall,
                "rss_min_mb": min(during), "rss_max_mb": max(during), "rss_end_mb": during[-1],
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    sampling.set()
    server.should_exit = True
    return rows


def main() -> None:
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_adapters(folder / "adapters", 8, BASE)
        paths += write_adapters(folder / "more", 3, BASE, ("lora",))
        scene = make_scene(folder / "scene.tif", 512)
        small = make_scene(folder / "small.tif", 224)
        print(f"torch threads {torch.get_num_threads()}; base {BASE} (random weights)", flush=True)
        one_pass_vs_runs(paths, scene, folder / "out")
        service(paths, small)


if __name__ == "__main__":
    main()
