"""The bundled offline model: trained by this package's own recipe on the repository's one labelled chip.

No official weights can be downloaded on a machine without the Hub, so the model that lets
``geoadapters predict`` run offline is trained from random weights on the real Sen1Floods11 chip in
``demo/examples`` (Spain_7370579, Bonafilia et al., CVPR Workshops 2020), with a spatial hold-out:
the chip is cut into 128 px blocks written in the Sen1Floods11 v1.1 layout, and the top half trains,
the bottom-left quadrant validates (checkpoint choice) and the bottom-right quadrant, never seen in
training, is the test set whose metrics the model card states. ``python -m training default-model``
writes that root, runs ``fit`` with ``training/recipes/offline/sen1floods11-tiny.yaml`` (which tests
the best checkpoint on the held-out block) and writes the adapter folder.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import rasterio
from rasterio.windows import Window

from training.recipes import RECIPES_DIR

__all__ = ["BLOCK", "CHIP", "OUTPUT", "RECIPE", "SPLITS", "block_id", "prepare_root", "train_default"]

REPO = Path(__file__).resolve().parents[1]
CHIP = REPO / "demo" / "examples" / "Spain_7370579_S2Hand.tif"
LABEL = REPO / "demo" / "examples" / "Spain_7370579_LabelHand.tif"
METADATA = REPO / "tests" / "data" / "sen1floods11" / "Sen1Floods11_Metadata.geojson"
RECIPE = RECIPES_DIR / "offline" / "sen1floods11-tiny.yaml"
OUTPUT = REPO / "geoadapters" / "default" / "sen1floods11-tiny"
BLOCK = 128
# Blocks (row, column) of the 512 px chip per split: top half / bottom-left / bottom-right quadrant.
SPLITS = {
    "train": [(r, c) for r in (0, 1) for c in (0, 1, 2, 3)],
    "val": [(r, c) for r in (2, 3) for c in (0, 1)],
    "test": [(r, c) for r in (2, 3) for c in (2, 3)],
}
_LISTS = {"train": "train_data.txt", "val": "valid_data.txt", "test": "test_data.txt"}
_HAND = Path("v1.1/data/flood_events/HandLabeled")


def block_id(row: int, col: int) -> str:
    """The sample id of a block: the chip's id with the block's row and column (``Spain_7370579_r2c3``)."""
    return f"Spain_7370579_r{row}c{col}"


def prepare_root(root: Path) -> Path:
    """Write the chip's blocks as a Sen1Floods11 v1.1 root, and its split lists into ``root/splits``.

    The Bolivia list is empty: the held-out block is the only test set. Returns the splits folder.
    """
    for kind, source in (("S2Hand", CHIP), ("LabelHand", LABEL)):
        folder = root / _HAND / kind
        folder.mkdir(parents=True, exist_ok=True)
        with rasterio.open(source) as src:
            for ids in SPLITS.values():
                for row, col in ids:
                    window = Window(col * BLOCK, row * BLOCK, BLOCK, BLOCK)
                    profile = {
                        "driver": "GTiff",
                        "width": BLOCK,
                        "height": BLOCK,
                        "count": src.count,
                        "dtype": src.dtypes[0],
                        "crs": src.crs,
                        "transform": src.window_transform(window),
                        "nodata": src.nodata,
                    }
                    with rasterio.open(folder / f"{block_id(row, col)}_{kind}.tif", "w", **profile) as dst:
                        dst.write(src.read(window=window))
                        if any(src.descriptions):
                            dst.descriptions = src.descriptions
    shutil.copyfile(METADATA, root / "v1.1" / METADATA.name)
    splits = root / "splits"
    splits.mkdir(exist_ok=True)
    for split, ids in SPLITS.items():
        (splits / _LISTS[split]).write_text("".join(f"{block_id(r, c)}\n" for r, c in ids))
    (splits / "bolivia_data.txt").write_text("")
    return splits


def train_default(root: Path, output: Path, *, overwrite: bool, extra: list[str]) -> int:
    """Prepare `root` and train the recipe on it into `output`; the exit code of ``fit``.

    ``fit`` runs in its own process from the repository root, with paths inside the repository
    relative to it, so the command the adapter's provenance records is the same on every checkout.
    """
    splits = prepare_root(root)
    args = ["fit", "--config", _arg(RECIPE), "--data.root", _arg(root), "--data.splits", _arg(splits)]
    args += ["--trainer.default_root_dir", _arg(root / "runs"), "--output", _arg(output)]
    args += ["--overwrite", str(overwrite).lower(), *extra]
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=REPO, check=False).returncode


def _arg(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
