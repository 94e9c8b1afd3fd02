"""Memory of N adapters resident on one base (`geoadapters.AdapterSet`) against N separate models.

prithvi-100 at full size with random weights (nothing is downloaded); the adapters cycle through
LoRA, VPT and linear probes with the paper's linear head (2 classes). Each configuration is built in
its own process, which reports the growth of its resident set size (RSS) and the bytes of the
distinct tensors it holds. The time to switch adapters is measured in one process holding all of
them: a forward pass (224 px, batch 1) alternating between adapters against one repeated adapter.
Run: PYTHONPATH=. python benchmarks/resident_adapters.py [--counts 1 2 4 8]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import geoadapters
from geoadapters.factory import build_model
from geoadapters.hub.folder import read_config, read_tensors

BASE = "prithvi-100"
METHODS = ("lora", "vpt", "linear_probe")


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def tensor_mb(modules: list[torch.nn.Module]) -> float:
    storages = {}
    for module in modules:
        for t in module.state_dict(keep_vars=True).values():
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values()) / 2**20


def write_adapters(
    folder: Path, count: int, base: str = BASE, methods: tuple[str, ...] = METHODS
) -> list[Path]:
    """`count` adapters of `base` (random weights), cycling `methods`, each with a linear 2-class head."""
    torch.manual_seed(0)
    paths = []
    for i in range(count):
        method = methods[i % len(methods)]
        model = geoadapters.create(
            base, method, "linear", num_classes=2, pretrained=False, name=f"a{i}-{method}"
        )
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.02)
        path = model.save_pretrained(folder / f"a{i}-{method}")
        del model
        # every arm runs on random base weights (pretrained=False): the flag that guards adapters of random
        # bases from official weights is lifted, as no official weights are involved
        config = path / "geoadapter.json"
        config.write_text(config.read_text().replace('"pretrained": false', '"pretrained": true'))
        paths.append(path)
    return paths


def worker(kind: str, paths: list[Path]) -> dict[str, float]:
    torch.set_grad_enabled(False)
    before = rss_mb()
    started = time.perf_counter()
    if kind == "set":
        resident = geoadapters.AdapterSet(BASE, pretrained=False)
        for i, path in enumerate(paths):
            resident.add(f"a{i}", path)
        modules: list[torch.nn.Module] = [resident]
    else:
        modules = []
        for path in paths:  # what geoadapters.load does, with random instead of downloaded base weights
            model = build_model(read_config(path), pretrained=False)
            model.load_adapter_state_dict(read_tensors(path))
            modules.append(model.eval())
    return {
        "rss_mb": rss_mb() - before,
        "tensor_mb": tensor_mb(modules),
        "load_s": time.perf_counter() - started,
    }


def switching(paths: list[Path], repeats: int) -> dict[str, float]:
    torch.set_grad_enabled(False)
    resident = geoadapters.AdapterSet(BASE, pretrained=False)
    for i, path in enumerate(paths):
        resident.add(f"a{i}", path)
    x = torch.randn(1, 6, 224, 224)
    names = list(resident)
    resident(x, adapter=names[0])  # warm-up

    def timed(order: list[str]) -> float:
        started = time.perf_counter()
        for name in order:
            resident(x, adapter=name)
        return (time.perf_counter() - started) / len(order)

    same = timed([names[0]] * repeats)
    alternating = timed([names[i % len(names)] for i in range(repeats)])
    started = time.perf_counter()
    for _ in range(10_000):
        resident[names[1]]
    lookup = (time.perf_counter() - started) / 10_000
    probes = [n for n in names if resident[n].config.method.name == "linear_probe"]
    one_by_one = timed(probes) * len(probes)
    started = time.perf_counter()
    resident.forward_many(x, probes)
    together = time.perf_counter() - started
    return {
        "same_s": same,
        "alternating_s": alternating,
        "lookup_us": lookup * 1e6,
        "probes": len(probes),
        "probes_one_by_one_s": one_by_one,
        "probes_together_s": together,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, paths = args.worker[0], [Path(p) for p in json.loads(args.worker[1])]
        print(json.dumps(switching(paths, args.repeats) if kind == "switch" else worker(kind, paths)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_adapters(Path(tmp), max(args.counts))

        def run(kind: str, chosen: list[Path]) -> dict[str, float]:
            command = [sys.executable, __file__, "--worker", kind, json.dumps([str(p) for p in chosen])]
            command += ["--repeats", str(args.repeats)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            result: dict[str, float] = json.loads(out.splitlines()[-1])
            return result

        print(f"{BASE} at full size, random weights; adapters cycle {', '.join(METHODS)} (linear head)")
        header = ["N", "set RSS MB", "separate RSS MB", "ratio", "set tensors MB", "separate tensors MB"]
        header += ["set load s", "separate load s"]
        print(" | ".join(header))
        for n in args.counts:
            shared, separate = run("set", paths[:n]), run("separate", paths[:n])
            row = [n, f"{shared['rss_mb']:.0f}", f"{separate['rss_mb']:.0f}"]
            row += [f"{shared['rss_mb'] / separate['rss_mb']:.2f}", f"{shared['tensor_mb']:.0f}"]
            row += [f"{separate['tensor_mb']:.0f}", f"{shared['load_s']:.1f}", f"{separate['load_s']:.1f}"]
            print(" | ".join(str(v) for v in row))
        timing = run("switch", paths)
        print(
            f"forward (224 px, batch 1): one adapter repeated {timing['same_s']:.3f} s, alternating over "
            f"{max(args.counts)} adapters {timing['alternating_s']:.3f} s per call; choosing an adapter "
            f"{timing['lookup_us']:.1f} us"
        )
        print(
            f"{timing['probes']:.0f} linear probes: one call each {timing['probes_one_by_one_s']:.3f} s, "
            f"forward_many (one encoder pass) {timing['probes_together_s']:.3f} s"
        )


if __name__ == "__main__":
    main()
