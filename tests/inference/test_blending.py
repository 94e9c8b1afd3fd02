"""Blending: one array-API implementation, run here on numpy (onnxruntime's logits) and torch (torch's)."""

import array_api_compat.numpy as xp_numpy
import array_api_compat.torch as xp_torch
import numpy as np
import pytest
import torch

from geoadapters.inference.blending import StripAccumulator
from geoadapters.inference.tiling import TileGrid

NAMESPACES = {"numpy": (xp_numpy, np.asarray), "torch": (xp_torch, torch.from_numpy)}


def local_model(tile):
    """A local operator (3 x 3 mean of each band, two 'classes'): its output needs 1 px of context."""
    padded = np.pad(tile, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = tile.shape[1:]
    mean = sum(padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9
    return np.stack([mean.sum(0), -mean.sum(0)])


@pytest.mark.parametrize("library", NAMESPACES)
def test_tiled_equals_single_pass_for_a_local_model(library):
    xp, array = NAMESPACES[library]
    rng = np.random.default_rng(0)
    scene = rng.normal(size=(3, 500, 610)).astype(np.float32)
    grid = TileGrid(500, 610, 128, 32)  # margin 8 >= the model's 1 px of context
    strip = StripAccumulator(grid, 2, xp=xp)
    out = np.zeros((2, 500, 610), np.float32)
    rows = grid.rows
    for r, tiles in grid.row_tiles():
        for c, (y, x) in enumerate(tiles):
            logits = local_model(scene[:, y : y + 128, x : x + 128])
            strip.add(r, c, array(logits), np.ones((128, 128), bool))
        top, mean, valid = strip.emit(rows[r + 1] if r + 1 < len(rows) else 500)
        out[:, top : top + mean.shape[1]] = mean
        assert valid.all()
    np.testing.assert_allclose(out, local_model(scene), atol=1e-5)
    assert strip.logits.shape == (2, 128, 610)  # one strip, whatever the height


@pytest.mark.parametrize("library", NAMESPACES)
def test_pixels_without_data_stay_invalid(library):
    xp, array = NAMESPACES[library]
    grid = TileGrid(100, 100, 64, 16)
    strip = StripAccumulator(grid, 2, xp=xp)
    valid = np.ones((64, 64), bool)
    valid[:10] = False
    for r, tiles in grid.row_tiles():
        for c, (y, _) in enumerate(tiles):
            strip.add(r, c, array(np.ones((2, 64, 64), np.float32)), valid if y == 0 else np.ones_like(valid))
        top, mean, ok = strip.emit(grid.rows[r + 1] if r + 1 < len(grid.rows) else 100)
        if top == 0:
            assert not ok[:10].any() and ok[10:].all()
            np.testing.assert_allclose(mean[:, 10:], 1.0)


def blend(grid, tiles, device, xp=xp_torch):
    """The whole scene's mean logits and mask, blending `tiles` (by row, column) on `device`."""
    strip = StripAccumulator(grid, 2, len(grid.rows), xp=xp, device=device)
    for r, row in grid.row_tiles():
        for c, _ in enumerate(row):
            tile = tiles[r, c].to(device) if xp is xp_torch else tiles[r, c].numpy()
            strip.add(r, c, tile, np.ones((grid.tile, grid.tile), bool))
    _, mean, valid = strip.emit(grid.height)
    return mean, valid


def random_tiles(grid):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(len(grid.rows), len(grid.cols), 2, grid.tile, grid.tile, generator=generator)


@pytest.mark.parametrize("library", NAMESPACES)
def test_blending_matches_float64_weighted_means_of_the_tiles(library):
    grid = TileGrid(300, 350, 128, 48, align=16)
    tiles = torch.randn(
        len(grid.rows), len(grid.cols), 2, 128, 128, generator=torch.Generator().manual_seed(0)
    )
    total, weight = np.zeros((2, 300 + 128, 350 + 128)), np.zeros((300 + 128, 350 + 128))
    for r, row in grid.row_tiles():
        for c, (y, x) in enumerate(row):
            w = grid.weights(r, c).astype(np.float64)
            total[:, y : y + 128, x : x + 128] += tiles[r, c].double().numpy() * w
            weight[y : y + 128, x : x + 128] += w
    mean, valid = blend(grid, tiles, "cpu", NAMESPACES[library][0])
    assert mean.dtype == np.float32 and valid.all()
    np.testing.assert_allclose(mean, total[:, :300, :350] / weight[:300, :350], rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_blending_on_the_gpu_equals_blending_on_the_cpu():
    grid = TileGrid(300, 350, 128, 48, align=16)
    tiles = torch.randn(
        len(grid.rows), len(grid.cols), 2, 128, 128, generator=torch.Generator().manual_seed(0)
    )
    cpu, gpu = blend(grid, tiles, "cpu"), blend(grid, tiles, "cuda")
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(gpu[1], cpu[1])
