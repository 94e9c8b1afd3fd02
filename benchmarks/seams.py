"""Seam study: tiled predictions against one whole-chip pass, per tile size and overlap.

The bundled adapter (sen1floods11-tiny) on every real chip in tests/data whose bands it reads: the
Sen1Floods11 Sentinel-2 L1C chip (512 px, the chip it was trained on) and the HLS L30 chip (224 px,
bands 2-7; surface reflectance, which the model predicts as all "Not water"). The burn-scar file is a
mask without its image and the reBEN patch is 120 px of 10/20/60 m bands, so neither is used.

The reference is the chip in one tile (both sides are multiples of the 16 px patch, so the encoder pads
nothing). Each tiled pass (`predict_array`, the tiles and blending of `geoadapters predict`) is
compared with it on the valid pixels: the % of pixels whose class differs, of those within half a
patch of an inner tile edge ("at edges": seams show there), and the max and mean |probability
difference|. Cost is the pixels computed (tiles x tile area) over the chip's area. Two yardsticks:
the whole chip shifted by half a patch and by one patch (the model's own shift sensitivity), and an
"aligned" column: whether every tile origin falls on the whole pass's patch grid (prediction puts
them there, `TileGrid.align`). The Sen1Floods11 chip cut to 500 px (its whole pass padded to 512) is
a scene whose sides are no multiple of the tile: its last tiles run past the edge, mirrored; it is
shown at the chosen tile, and not used for the choice.

The default chosen: the adapter's training chip size as the tile (training/offline.py's blocks), and
the smallest overlap whose disagreement is below 0.1 % of pixels on every chip; where none is, the
smallest overlap within 0.1 percentage point of the least disagreement at that tile (what remains is
context a tile cannot see, which no overlap buys back).

Not measured: the adapters imported from TerraTorch (`geoadapters convert`), whose checkpoints cannot
be downloaded on a machine without the Hub; the study runs on any adapter folder given with --adapter.
Run: PYTHONPATH=. python benchmarks/seams.py [--adapter FOLDER --chip-size N]
"""

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio

import geoadapters
from geoadapters.hub.folder import read_config
from geoadapters.inference.array import predict_array
from geoadapters.inference.tiling import TileGrid
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.read import resolve_bands
from training.offline import BLOCK

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# (name, file, the file's bands for the adapter's bands: None to match them by their descriptions)
CHIPS = (
    ("Sen1Floods11 S2 L1C 512 px", DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif", None),
    ("HLS L30 224 px", DATA / "hls" / "regression_test_0_input.tif", ("2", "3", "4", "5", "6", "7")),
)
TILE_SIZES = (64, 96, 128, 192, 256, 384)
OVERLAPS = (0, 8, 16, 32, 64, 128)
THRESHOLD = 0.1  # % of valid pixels
CROP = 500  # side of a cut of the Sen1Floods11 chip: tile origins off the patch grid (not in the choice)

Prediction = tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Row:
    """One tiled pass (or yardstick) against the whole-chip pass."""

    chip: str
    tiling: str
    tile: int
    overlap: int
    cost: float
    aligned: str
    disagreement: float
    at_edges: float
    max_diff: float
    mean_diff: float


def read_chip(
    path: Path, bands: tuple[str, ...] | None, needed: tuple[str, ...]
) -> tuple[npt.NDArray[np.float32], float | None]:
    with rasterio.open(path) as src:
        numbers = resolve_bands(src.descriptions, needed, bands)
        return src.read(numbers).astype(np.float32), src.nodata


def edge_band(grid: TileGrid, width: int) -> npt.NDArray[np.bool_]:
    """Pixels within `width` px of a tile edge that is inside the scene."""
    band = np.zeros((grid.height, grid.width), bool)
    for origins, axis in ((grid.rows, 0), (grid.cols, 1)):
        ends = {o + grid.tile for o in origins if o + grid.tile < band.shape[axis]}
        for edge in {o for o in origins if o > 0} | ends:
            index = slice(max(0, edge - width), edge + width)
            band[(index, slice(None)) if axis == 0 else (slice(None), index)] = True
    return band


def compare(
    reference: Prediction, other: Prediction, region: npt.NDArray[np.bool_]
) -> tuple[float, float, float, float]:
    """(% of valid pixels with another class, the same % in `region`, max and mean |prob. difference|)."""
    (c0, p0), (c1, p1) = reference, other
    valid = (c0 != 255) & (c1 != 255)
    differs = c0 != c1
    at = valid & region
    diff = np.abs(p1 - p0)[:, valid]
    edges = 100 * differs[at].mean() if at.any() else float("nan")
    return 100 * differs[valid].mean(), edges, float(diff.max()), float(diff.mean())


def study(
    name: str,
    data: npt.NDArray[np.float32],
    nodata: float | None,
    runner: TorchRunner,
    multiple: int,
    tiles: tuple[int, ...] = TILE_SIZES,
) -> list[Row]:
    """The yardsticks and the tiled passes with `tiles` against the whole pass of one chip."""
    height, width = data.shape[1:]
    area = height * width

    def run(array: npt.NDArray[np.float32], tile: int, overlap: int) -> Prediction:
        out: Prediction = predict_array(
            array, runner, tile_size=tile, overlap=overlap, probabilities=True, nodata=nodata
        )
        return out

    reference = run(data, max(height, width), 0)
    c0, p0 = reference
    rows = []
    for shift in (multiple // 2, multiple):
        shifted = run(data[:, shift:, shift:], max(height, width) - shift, 0)
        stats = compare(
            (c0[shift:, shift:], p0[:, shift:, shift:]), shifted, np.zeros(c0.shape, bool)[shift:, shift:]
        )
        rows.append(Row(name, f"whole, shifted {shift} px", 0, 0, 1.0, "-", *stats))
    for tile in tiles:
        if tile >= max(height, width):
            continue
        for overlap in OVERLAPS:
            if overlap > tile // 2:
                continue
            grid = TileGrid(height, width, tile, overlap, align=multiple)  # as predict_array tiles
            aligned = all(o % multiple == 0 for o in grid.rows + grid.cols)
            stats = compare(reference, run(data, tile, overlap), edge_band(grid, multiple // 2))
            cost = len(grid) * tile**2 / area
            rows.append(Row(name, "tiled", tile, overlap, cost, "yes" if aligned else "no", *stats))
    return rows


def choose(rows: list[Row], tile: int) -> tuple[int, str]:
    """The smallest overlap at `tile` below `THRESHOLD` on every chip, else within it of the least."""
    chips = {r.chip for r in rows}
    worst: dict[int, float] = {}
    for overlap in OVERLAPS:
        found = [
            r.disagreement for r in rows if r.tiling == "tiled" and (r.tile, r.overlap) == (tile, overlap)
        ]
        if len(found) == len(chips):
            worst[overlap] = max(found)
    below = [o for o, d in worst.items() if d < THRESHOLD]
    if below:
        return min(below), f"the smallest overlap below {THRESHOLD} % of pixels on every chip"
    least = min(worst.values())
    overlap = min(o for o, d in worst.items() if d <= least + THRESHOLD)
    return overlap, (
        f"no overlap reaches {THRESHOLD} % (the least is {least:.3f} %): the smallest overlap within "
        f"{THRESHOLD} percentage point of the least disagreement at this tile"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--adapter", default=geoadapters.DEFAULT_ADAPTER, help="adapter folder (default: the bundled one)"
    )
    parser.add_argument(
        "--chip-size", type=int, default=BLOCK, help="the adapter's training chip size (bundled: %(default)s)"
    )
    args = parser.parse_args()
    model = geoadapters.load(read_config(args.adapter).base.name, args.adapter)
    runner = TorchRunner(model, "cpu")
    config = model.config
    multiple = model.encoder.features.input_multiple
    start = time.perf_counter()
    chips = {name: read_chip(path, bands, config.input.bands) for name, path, bands in CHIPS}
    rows = [
        row for name, (data, nodata) in chips.items() for row in study(name, data, nodata, runner, multiple)
    ]
    name, (data, nodata) = next(iter(chips.items()))
    cut = study(
        f"{name} cut to {CROP} px",
        data[:, :CROP, :CROP],
        nodata,
        runner,
        multiple,
        (args.chip_size,),
    )
    seconds = time.perf_counter() - start
    print(f"Seam study of {config.name} ({config.base.name}, {multiple} px patches), {seconds:.0f} s")
    print("| chip | tiling | tile | overlap | cost | aligned | differ % | at edges % | max dp | mean dp |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows + cut:
        tiling = (f"{r.tile}", f"{r.overlap}") if r.tile else ("-", "-")
        edges = "-" if np.isnan(r.at_edges) else f"{r.at_edges:.3f}"
        print(
            f"| {r.chip} | {r.tiling} | {tiling[0]} | {tiling[1]} | {r.cost:.2f} | {r.aligned} "
            f"| {r.disagreement:.3f} | {edges} | {r.max_diff:.3f} | {r.mean_diff:.4f} |"
        )
    chosen, how = choose(rows, args.chip_size)
    current = config.inference
    print(f"Chosen: tile {args.chip_size} (the training chip size), overlap {chosen}: {how}.")
    print(f"Current default of {config.name}: tile {current.tile_size}, overlap {current.overlap}.")
    print("Not measured: the adapters imported from TerraTorch (no Hub on this machine to fetch them).")


if __name__ == "__main__":
    main()
