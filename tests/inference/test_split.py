"""A scene computed in blocks of tile rows and written from their strip files equals the whole scene."""

import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.windows import Window

from geoadapters.inference.jobs import plan_jobs
from geoadapters.inference.predict import predict_block, predict_job, predict_raster
from geoadapters.inference.request import PredictOptions
from geoadapters.inference.tiling import TileGrid
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import perturbed_model
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def runner(checkpoint):
    return TorchRunner(perturbed_model("lora", "linear", checkpoint))


def outputs(path):
    with rasterio.open(path) as dst, rasterio.open(path.with_name(f"{path.stem}_proba.tif")) as proba:
        return dst.read(), proba.read(), dst.tags(ns="IMAGE_STRUCTURE")["LAYOUT"]


@pytest.mark.parametrize(
    ("height", "count", "overlap"), [(300, 3, 32), (300, 10, 32), (97, 3, 32), (256, 2, 0)]
)
def test_blocks_of_tile_rows_give_the_whole_scene_exactly(tmp_path, runner, height, count, overlap):
    # With 64 px tiles and overlap 32, 300 rows have 9 tile rows 29.5 px apart (10 blocks: one empty)
    # and 97 rows 3 tile rows 16.5 px apart: three tile rows share pixels (the third block of 97 rows
    # needs tile row 0); without overlap, blocks share no tile rows. Batches of 4 tiles over 3 (2) tile
    # columns straddle tile rows, and block borders.
    scene = write_like(tmp_path / "scene.tif", chip_pixels(Window(0, 0, 100, height)))
    options = {"overlap": overlap, "batch_size": 4, "probabilities": True, "probability_dtype": "float32"}
    grid = TileGrid(height, 100, 64, overlap)
    whole = predict_raster(scene, tmp_path / "whole.tif", runner, vector=tmp_path / "whole.gpkg", **options)
    files = [tmp_path / f"block{k}.strips" for k in range(count)]
    request = PredictOptions(**options)
    computed = [predict_block(scene, f, runner, (k, count), request) for k, f in enumerate(files)]
    (job,) = plan_jobs([scene], tmp_path / "split.tif", vector=tmp_path / "split.gpkg", probabilities=True)
    split = predict_job(job, runner, request, blocks=files)
    assert sum(computed) == split.computed == whole.computed == len(grid)
    assert split.class_pixels == whole.class_pixels
    (one, one_proba, _), (other, other_proba, layout) = outputs(whole.output), outputs(split.output)
    assert np.array_equal(one, other) and np.array_equal(one_proba, other_proba, equal_nan=True)
    assert layout == "COG"
    (_, _, shapes, fields), (_, _, other_shapes, other_fields) = (
        pyogrio.raw.read(tmp_path / f"{name}.gpkg") for name in ("whole", "split")
    )
    assert len(shapes) > 1 and list(shapes) == list(other_shapes)  # WKB bytes
    assert all(np.array_equal(f, g) for f, g in zip(fields, other_fields, strict=True))
