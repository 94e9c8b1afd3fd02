import numpy as np
import pytest

from geoadapters.inference.tiling import TileGrid, tile_origins


@pytest.mark.parametrize(
    ("length", "tile", "overlap"),
    [
        (1000, 224, 32),
        (224, 224, 32),
        (225, 224, 32),
        (417, 224, 32),
        (100, 224, 32),
        (4096, 512, 64),
        (700, 64, 0),
    ],
)
def test_origins_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    origins = tile_origins(length, tile, overlap)
    assert origins[0] == 0
    if length <= tile:
        assert origins == [0]
        return
    assert origins[-1] == length - tile
    steps = np.diff(origins)
    assert (steps <= tile - overlap).all() and (steps > 0).all()


@pytest.mark.parametrize("length", [100, 225, 417, 500, 512, 1000, 4099])
@pytest.mark.parametrize(
    ("tile", "overlap", "align"), [(128, 0, 16), (224, 32, 16), (96, 16, 8), (256, 64, 32)]
)
def test_aligned_origins_sit_on_the_patch_grid_and_still_cover_the_axis(length, tile, overlap, align):
    origins = tile_origins(length, tile, overlap, align)
    assert origins[0] == 0 and all(o % align == 0 for o in origins)
    steps = np.diff(origins)
    assert (steps <= tile - overlap).all() and (steps > 0).all()
    assert length <= origins[-1] + tile < length + align or origins == [0]
    # no more tiles than the unaligned grid needs, plus at most one
    assert len(origins) <= len(tile_origins(length, tile, overlap)) + 1


def test_a_grid_that_cannot_step_on_its_alignment_is_refused():
    with pytest.raises(ValueError, match="cannot step on a grid of 64 px"):
        tile_origins(1000, 96, 48, 64)


def scene_weights(grid):
    total = np.zeros((grid.height, grid.width))
    for r, tiles in grid.row_tiles():
        for c, (y, x) in enumerate(tiles):
            w = grid.weights(r, c)[: grid.height - y, : grid.width - x]
            total[y : y + w.shape[0], x : x + w.shape[1]] += w
    return total


@pytest.mark.parametrize(
    ("height", "width"), [(1000, 1000), (300, 1000), (224, 224), (120, 500), (224 + 193, 640)]
)
@pytest.mark.parametrize("align", [1, 16])
def test_blend_weights_sum_to_one_everywhere(height, width, align):
    grid = TileGrid(height, width, 224, 32, align=align)
    total = scene_weights(grid)
    assert (total > 0).all()  # every pixel is predicted by some tile

    def per_axis(origins, length):
        return np.array([sum(o <= i < o + grid.tile for o in origins) for i in range(length)])

    # at most two tiles along each axis: their ramps are complementary
    pairwise = np.outer(per_axis(grid.rows, height) <= 2, per_axis(grid.cols, width) <= 2)
    np.testing.assert_allclose(total[pairwise], 1.0, atol=1e-6)
    # where three tiles share pixels the predictor divides by the total: normalised weights sum to one
    for r, tiles in grid.row_tiles():
        for c in range(len(tiles)):
            w = grid.weights(r, c)
            assert (w >= 0).all() and w.max() > 0.5


def test_interior_edges_have_a_zero_margin_and_scene_edges_do_not():
    grid = TileGrid(1000, 1000, 224, 32)
    w = grid.weights(1, 0)
    assert (w[:8, :] == 0).all() and (w[-8:, :] == 0).all()  # shared top and bottom edges
    assert (w[100, :8] == 1).all()  # left scene edge keeps full weight
    assert np.all(np.diff(w[8:40, 100]) > 0)  # a smooth ramp up
