"""Make the bundled demo adapter: a tiny water segmenter, trained from scratch on the bundled chip.

The quick start must run offline on a fresh machine, where no official Prithvi weights can be
downloaded. So the demo adapter is a *full fine-tune* (it carries every encoder weight and needs no
base checkpoint) of a 2-block Prithvi-EO-2.0-tiny architecture, trained from random weights for a
few minutes of CPU on the one Sentinel-2 chip of Sen1Floods11 shipped here. It shows the whole
pipeline (load, tile, blend, write a COG) on a real scene; it is not a model to use for anything else.

Run from the repository root: python demo/examples/make_demo_adapter.py
"""

from pathlib import Path

import numpy as np
import rasterio
import torch

import geoadapters
from geoadapters.bands import band_indices
from geoadapters.config import Inference
from geoadapters.specs import InputSpec

HERE = Path(__file__).parent
SCENE = HERE / "Spain_7370579_S2Hand.tif"
LABEL = HERE / "Spain_7370579_LabelHand.tif"
OUTPUT = HERE / "sen1floods11-demo"
# The paper's Sen1Floods11 normalisation (arXiv 2504.17397, section 4): digital numbers x 0.0001.
SEN1FLOODS11 = InputSpec(
    bands=("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"),
    mean=(0.14130, 0.13796, 0.12354, 0.30903, 0.20450, 0.11912),
    std=(0.07406, 0.07370, 0.08692, 0.11799, 0.09772, 0.07660),
    units="reflectance",
    scale=0.0001,
    nodata=0,
    gsd=10,
)
STEPS, BATCH, CROP = 300, 4, 224


def main() -> None:
    """Train the demo adapter and write it to sen1floods11-demo/."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    with rasterio.open(SCENE) as src:
        raw = src.read([i + 1 for i in band_indices(src.descriptions, SEN1FLOODS11.bands)]).astype("float32")
    with rasterio.open(LABEL) as src:
        label = src.read(1).astype("int64")
    model = geoadapters.create(
        "prithvi-v2-tiny-tl",
        "full",
        "linear",
        classes=["not water", "water"],
        pretrained=False,
        input=SEN1FLOODS11,
        inference=Inference(tile_size=224, overlap=32, batch_size=4),
        name="sen1floods11-demo",
        depth=2,
    )
    x_all = model.normalize(torch.from_numpy(raw)[None])[0]
    y_all = torch.from_numpy(label)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    for step in range(STEPS):
        rows = rng.integers(0, raw.shape[1] - CROP + 1, BATCH)
        cols = rng.integers(0, raw.shape[2] - CROP + 1, BATCH)
        x = torch.stack([x_all[:, r : r + CROP, c : c + CROP] for r, c in zip(rows, cols, strict=True)])
        y = torch.stack([y_all[r : r + CROP, c : c + CROP] for r, c in zip(rows, cols, strict=True)])
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        loss = torch.nn.functional.cross_entropy(model(x), y, ignore_index=-1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.3f}")
    model.eval()
    with torch.no_grad():
        pred = model(x_all[None, :, :512, :512]).argmax(1)[0]
    valid = y_all >= 0
    ious = [
        ((pred == k) & (y_all == k) & valid).sum() / (((pred == k) | (y_all == k)) & valid).sum()
        for k in (0, 1)
    ]
    miou = float(sum(ious) / 2 * 100)
    print(f"mIoU on the training chip: {miou:.1f}")
    provenance = {
        "description": "A demo of the geoadapters pipeline: a 2-block Prithvi-EO-2.0-tiny trained from "
        "random weights on one Sentinel-2 chip. Not pretrained, not validated: for trying the tools only.",
        "training": f"Full fine-tune from random weights, {STEPS} AdamW steps (lr 1e-3) of {BATCH} random "
        f"{CROP} px crops with horizontal flips, on the Sen1Floods11 chip Spain_7370579 (CC BY 4.0).",
        "license": "cc-by-4.0",
    }
    metrics = {"training chip (not a test set)": {"mIoU": round(miou, 2)}}
    model.save_pretrained(OUTPUT, metrics=metrics, provenance=provenance, overwrite=True)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
