"""``predict --vector`` against the raster run alone, whole processes, on one scene, in one run.

The scene is the real Sentinel-2 chip of tests/data mirrored to 4096 x 4096 px (`predict.make_scene`),
predicted with the bundled offline model (128 px tiles, so the model's share of the time is small and
the polygons' is large: the case where their cost shows most). Each round runs ``geoadapters predict``
without and with ``--vector`` (GeoPackage, the default cleaning: 1 px simplification), alternated; the
best of the rounds is reported, and their ratio. ``--before CHECKOUT`` runs another checkout's CLI too
(an extracted older commit of this repository, on this virtual environment's packages), alternated;
``--model-threads N`` adds both runs with the model on N threads (``OMP_NUM_THREADS``), which leaves
the other cores to the polygons; ``--wait-policy ACTIVE`` adds both runs with torch's idle OpenMP
threads spinning, as they did before the command set ``OMP_WAIT_POLICY=PASSIVE`` for itself.
Then the polygons are checked: valid, and the ground area of each class in the polygon file against the
class map's (`geoadapters.raster.area.class_areas`), with the share of vertices the simplification kept.

Run: python benchmarks/vector.py [--size 4096] [--rounds 3] [--before CHECKOUT] [--model-threads 1]
     [--wait-policy ACTIVE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict import make_scene

from geoadapters.raster.area import class_areas

# The CLI of another checkout: its package first, ahead of this checkout's editable install.
_OTHER = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
    "sys.path.insert(0, sys.argv.pop(1)); from geoadapters.cli.main import main; main()"
)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds of one whole process, start to exit."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout of this repository")
    parser.add_argument("--model-threads", type=int, help="also both runs with the model on these threads")
    parser.add_argument(
        "--wait-policy", choices=["ACTIVE", "PASSIVE"], help="also both runs with this OMP_WAIT_POLICY"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vector-bench-") as tmp:
        work = Path(tmp)
        scene = make_scene(work / "scene.tif", args.size)
        cli = [sys.executable, "-m", "geoadapters.cli.main", "predict", str(scene), "--overwrite"]
        runs = {
            "raster": [*cli, "-o", str(work / "r.tif")],
            "vector": [*cli, "-o", str(work / "v.tif"), "--vector", str(work / "v.gpkg")],
        }
        if args.before:
            other = [
                sys.executable,
                "-c",
                _OTHER,
                str(args.before.resolve()),
                "predict",
                str(scene),
                "--overwrite",
            ]
            runs["before raster"] = [*other, "-o", str(work / "br.tif")]
            runs["before vector"] = [*other, "-o", str(work / "bv.tif"), "--vector", str(work / "bv.gpkg")]
        variants: dict[str, dict[str, str]] = {}
        if args.model_threads:
            threads = f"model on {args.model_threads} thread{'s' * (args.model_threads > 1)}"
            variants[threads] = {"OMP_NUM_THREADS": str(args.model_threads)}
        if args.wait_policy:
            variants[f"OMP_WAIT_POLICY={args.wait_policy}"] = {"OMP_WAIT_POLICY": args.wait_policy}
        envs: dict[str, dict[str, str]] = {}
        for label, env in variants.items():
            for name in ("raster", "vector"):
                runs[f"{label} {name}"] = runs[name]
                envs[f"{label} {name}"] = os.environ | env
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, command in runs.items():
                times[name].append(timed(command, envs.get(name)))
        print(
            f"scene {args.size} x {args.size} px, bundled model, {args.rounds} rounds (best; all in brackets)"
        )
        print("| run | s | vs its raster run |")
        print("|---|---|---|")
        for name, values in times.items():
            raster = min(times[name[: name.rfind(" ") + 1] + "raster"])  # its prefix's raster run
            listed = ", ".join(f"{v:.1f}" for v in values)
            print(f"| {name} | {min(values):.1f} ({listed}) | {min(values) / raster:.2f}x |")
        _, _, wkb, fields = pyogrio.raw.read(work / "v.gpkg")
        polygons = shapely.from_wkb(wkb)
        names, area = fields[0], fields[3]
        print(f"\npolygons {len(polygons):,}, all valid: {bool(shapely.is_valid(polygons).all())}")
        with rasterio.open(work / "v.tif") as ds:
            classes = json.loads(ds.tags()["classes"])
        areas = class_areas(work / "v.tif", classes)
        for name, expected in areas.items():
            mine = names == name
            written = float(area[mine].sum())
            diff = written / expected - 1
            print(f"{name}: polygons {written:,.0f} m², class map {expected:,.0f} m², rel. diff {diff:.1e}")
        raw = work / "raw.gpkg"
        subprocess.run(
            [sys.executable, "-m", "geoadapters.cli.main", "vectorize", str(work / "v.tif"), "-o", str(raw),
             "--simplify", "0"], check=True, capture_output=True,
        )  # fmt: skip
        unsimplified = shapely.from_wkb(pyogrio.raw.read(raw)[2])
        kept = shapely.get_num_coordinates(polygons).sum() / shapely.get_num_coordinates(unsimplified).sum()
        moved = np.abs(shapely.area(polygons).sum() / shapely.area(unsimplified).sum() - 1)
        print(f"simplification kept {kept:.0%} of the vertices; total polygon area moved by {moved:.1e}")


if __name__ == "__main__":
    main()
