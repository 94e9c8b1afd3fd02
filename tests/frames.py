"""Multi-date scenes of the tests: three frames of the real HLS chip on the burn-scar granule's grid, as
files or as one stack, and a -TL model of three frames (fixtures, registered by tests/conftest.py)."""

import dataclasses
import datetime

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window

import geoadapters
from geoadapters.config import Inference
from geoadapters.raster.metadata import centre_lat_lon
from tests.conftest import HLS_CHIP, S1F11

HLS_30M = dataclasses.replace(S1F11, gsd=30)
BURN_GRID = HLS_CHIP.parent.parent / "burn_scars" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
DAYS = (285, 301, 317)  # HLS day-of-year dates of the three frames, in 2018
SIZE = 64
# Seven bands per frame: the chip's coastal aerosol band first, which the model does not read.
FRAME_BANDS = ("COASTAL_AEROSOL", *S1F11.bands)


def frame_name(day: int) -> str:
    return f"subsetted_512x512_HLS.S30.T10TGS.2018{day:03d}.v1.4_merged.tif"


def frame_pixels(k: int) -> np.ndarray:
    """Frame `k`: a different 64 x 64 window of the real HLS chip, its bands 1-7 (float32, -9999 nodata)."""
    with rasterio.open(HLS_CHIP) as src:
        return src.read(list(range(1, 8)), window=Window(40 * k, 24 * k, SIZE, SIZE))


def profile(count: int, transform: Affine | None = None) -> dict:
    with rasterio.open(BURN_GRID) as grid:
        return {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": count, "dtype": "float32",
                "crs": grid.crs, "transform": transform or grid.transform, "nodata": -9999}  # fmt: skip


def write_frame(path, pixels, transform=None):
    with rasterio.open(path, "w", **profile(len(pixels), transform)) as dst:
        dst.write(pixels)
        for i, name in enumerate(FRAME_BANDS, start=1):
            dst.set_band_description(i, name)
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Three frames on the burn-scar granule's grid under HLS names dated 2018-10-12, -28, 11-13."""
    folder = tmp_path_factory.mktemp("frames")
    return [write_frame(folder / frame_name(day), frame_pixels(k)) for k, day in enumerate(DAYS)]


@pytest.fixture(scope="module")
def stack(frames):
    """The same frames as one multi-date stack: 3 x 7 bands, frame after frame, dates in band tags."""
    path = frames[0].parent / "stack.tif"
    with rasterio.open(path, "w", **profile(21)) as dst:
        dst.write(np.concatenate([frame_pixels(k) for k in range(3)]))
        for k, day in enumerate(DAYS):
            for i, name in enumerate(FRAME_BANDS):
                dst.set_band_description(7 * k + i + 1, name)
            date = datetime.date(2018, 1, 1) + datetime.timedelta(days=day - 1)
            dst.update_tags(7 * k + 1, ACQUISITION_DATE=date.isoformat())
    return path


@pytest.fixture(scope="module")
def frames_model():
    """A Prithvi-2.0 -TL model of three frames (time and location encoders), depth 1."""
    torch.manual_seed(0)
    return geoadapters.create(
        "prithvi-v2-tiny-tl", "full", "linear", classes=["a", "b"], pretrained=False, input=HLS_30M,
        inference=Inference(tile_size=SIZE, overlap=0), depth=1, num_frames=3,
    ).eval()  # fmt: skip


@pytest.fixture(scope="module")
def frames_adapter(frames_model, tmp_path_factory):
    return frames_model.save_pretrained(tmp_path_factory.mktemp("adapter") / "frames-full")


def shifted(path, folder):
    with rasterio.open(path) as src:
        moved = src.transform @ Affine.translation(1, 0)
    return write_frame(folder / "shifted.tif", frame_pixels(2), moved)


def reference(model, order=(0, 1, 2), days=DAYS, dates=True, rows=slice(None), cols=slice(None)):
    """Softmax of the model called directly on the frames stacked as (1, C, T, H, W), in float64."""
    raw = np.stack([frame_pixels(k)[1:, rows, cols] for k in order], axis=1)[None]  # the model's 6 bands
    with rasterio.open(BURN_GRID) as grid:
        lat, lon = centre_lat_lon(grid.crs, grid.transform, SIZE, SIZE)
    metadata = {"location_coords": torch.tensor([[lat, lon]])}
    if dates:
        metadata["temporal_coords"] = torch.tensor([[[2018.0, float(days[k])] for k in order]])
    with torch.no_grad():
        logits = model(model.normalize(torch.from_numpy(raw)), **metadata)
    return torch.softmax(logits.double(), 1)[0].numpy()
