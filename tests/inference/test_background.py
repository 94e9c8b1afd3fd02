"""Reading ahead and writing behind in threads change no output, and their errors surface unchanged.

The reference is a plain sequential loop: the same batches of tiles read, run and blended with
`StripAccumulator` one after the other, every row emitted at the end.
"""

import threading
import time

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import shapes
from rasterio.windows import Window

from geoadapters.errors import RasterError
from geoadapters.inference.blending import StripAccumulator
from geoadapters.inference.predict import predict_raster, predict_tiles
from geoadapters.inference.tiling import TileGrid
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.outputs import VectorOptions
from geoadapters.raster.read import Scene
from tests.conftest import S2_CHIP, perturbed_model
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def model(checkpoint):
    return perturbed_model("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def runner(model):
    return TorchRunner(model)


def fill_of(runner):
    spec = runner.config.input
    return (np.asarray(spec.mean, np.float32) / spec.scale).astype(np.float32)


def sequential(source, grid, runner, batch_size, fill):
    """Mean logits and data mask of the whole scene, computed one step after the other."""
    strip = StripAccumulator(
        grid, len(runner.config.classes), len(grid.rows), xp=runner.xp, device=runner.device
    )
    tiles = [(r, c, y, x) for r, y in enumerate(grid.rows) for c, x in enumerate(grid.cols)]
    for start in range(0, len(tiles), batch_size):
        batch = tiles[start : start + batch_size]
        reads = [source.read(y, x, grid.tile, fill) for _, _, y, x in batch]
        keep = [k for k, (_, valid) in enumerate(reads) if valid.any()]
        if keep:
            logits = runner(np.stack([reads[k][0] for k in keep]), None)
            for j, k in enumerate(keep):
                r, c, _, _ = batch[k]
                strip.add(r, c, logits[j], reads[k][1])
    _, logits, valid = strip.emit(grid.height)
    return logits, valid


class SlowSource:
    """A scene whose reads take `delay` seconds more, and fail from read number `fail_at` on."""

    def __init__(self, scene, delay=0.0, fail_at=None):
        self.scene, self.delay, self.fail_at, self.reads = scene, delay, fail_at, 0
        self.height, self.width = scene.height, scene.width

    def read(self, y, x, size, fill):
        self.reads += 1
        if self.fail_at is not None and self.reads >= self.fail_at:
            raise RasterError(f"reading rows {y}-{y + size} failed: simulated")
        time.sleep(self.delay)
        return self.scene.read(y, x, size, fill)


class Strips:
    """A sink keeping every strip, `delay` seconds per call, failing at call number `fail_at`."""

    def __init__(self, delay=0.0, fail_at=None):
        self.delay, self.fail_at, self.calls, self.strips = delay, fail_at, 0, []
        self.busy = threading.Lock()
        self.threads = set()

    def __call__(self, row, logits, valid):
        assert self.busy.acquire(blocking=False), "the sink was called while a call was in progress"
        try:
            self.calls += 1
            self.threads.add(threading.current_thread())
            if self.fail_at is not None and self.calls >= self.fail_at:
                raise RasterError("writing out.tif failed (is the disk full?): simulated")
            time.sleep(self.delay)
            self.strips.append((row, logits, valid))
        finally:
            self.busy.release()

    def whole(self):
        rows = [row for row, _, _ in self.strips]
        heights = [logits.shape[1] for _, logits, _ in self.strips]
        assert rows == list(np.cumsum([0, *heights[:-1]])), "strips out of order or missing"
        return np.concatenate([s[1] for s in self.strips], axis=1), np.concatenate(
            [s[2] for s in self.strips]
        )


@pytest.mark.parametrize(("read_delay", "write_delay"), [(0, 0), (0.01, 0), (0, 0.05), (0.01, 0.05)])
def test_outputs_equal_the_sequential_loop_however_slow_reading_or_writing(read_delay, write_delay, runner):
    fill = fill_of(runner)
    with Scene(S2_CHIP, runner.config.input.bands) as scene:
        grid = TileGrid(scene.height, 300, 64, 16)  # 7 tiles per row: batches of 3 span tile rows
        source = SlowSource(scene, read_delay)
        source.width = 300
        sink = Strips(write_delay)
        computed = predict_tiles(source, grid, runner, 3, fill, 1.0, None, sink)
        expected_logits, expected_valid = sequential(scene, grid, runner, 3, fill)
    assert computed == len(grid) == source.reads
    logits, valid = sink.whole()
    np.testing.assert_array_equal(logits, expected_logits)
    np.testing.assert_array_equal(valid, expected_valid)
    assert len(sink.threads) == 1  # one thread alone uses the sink's datasets


def test_written_class_map_probabilities_and_polygons_equal_the_sequential_loop(tmp_path, runner):
    scene_path = write_like(tmp_path / "scene.tif", chip_pixels(Window(100, 0, 200, 250)))  # 5 x 4 tiles
    report = predict_raster(
        scene_path, tmp_path / "out.tif", runner, probabilities=True, probability_dtype="float32",
        vector=tmp_path / "out.gpkg", vector_options=VectorOptions(simplify=0),  # the pixel outlines
    )  # fmt: skip
    with Scene(scene_path, runner.config.input.bands) as scene:
        config = runner.config.inference
        align = runner.config.input_multiple  # as predict_raster tiles
        grid = TileGrid(scene.height, scene.width, config.tile_size, config.overlap, align=align)
        logits, valid = sequential(scene, grid, runner, config.batch_size, fill_of(runner))
        transform = scene.source.transform
    labels = np.where(valid, logits.argmax(axis=0), 255).astype(np.uint8)
    shifted = np.exp((logits - logits.max(axis=0, keepdims=True)).astype(np.float64))
    proba = np.where(valid, shifted / shifted.sum(axis=0, keepdims=True), np.nan).astype(np.float32)
    with rasterio.open(report.output) as out, rasterio.open(report.probabilities) as written:
        np.testing.assert_array_equal(out.read(1), labels)
        np.testing.assert_array_equal(written.read(), proba)
    meta, _, wkb, fields = pyogrio.raw.read(report.vector)
    values = fields[list(meta["fields"]).index("value")]
    polygons = shapely.from_wkb(wkb)
    whole = [(shapely.geometry.shape(g), v) for g, v in shapes(labels, mask=valid, transform=transform)]
    assert len(polygons) == len(whole)
    for value in (0, 1):
        expected = shapely.union_all([g for g, v in whole if v == value])
        got = shapely.union_all(polygons[values == value])
        # corners are mapped on a binary grid (geoadapters.raster.vector.exact_affine): 1e-6 px apart
        assert shapely.symmetric_difference(got, expected).area < 1e-6 * expected.area


def test_a_failing_read_surfaces_as_its_error_and_stops_the_writer(runner):
    with Scene(S2_CHIP, runner.config.input.bands) as scene:
        grid = TileGrid(scene.height, scene.width, 64, 16)
        source, sink = SlowSource(scene, fail_at=30), Strips()
        with pytest.raises(RasterError, match=r"^reading rows \d+-\d+ failed: simulated$"):
            predict_tiles(source, grid, runner, 4, fill_of(runner), 1.0, None, sink)
    assert source.reads == 30 and len(sink.strips) < len(grid.rows)


def test_a_failing_sink_surfaces_as_its_error_and_is_not_called_again(runner):
    with Scene(S2_CHIP, runner.config.input.bands) as scene:
        grid = TileGrid(scene.height, scene.width, 64, 16)
        source, sink = SlowSource(scene), Strips(fail_at=2)
        with pytest.raises(RasterError, match=r"^writing out.tif failed \(is the disk full\?\): simulated$"):
            predict_tiles(source, grid, runner, 4, fill_of(runner), 1.0, None, sink)
    assert sink.calls == 2 and source.reads < len(grid)


def test_a_scene_failing_mid_way_publishes_nothing(tmp_path, runner):
    """A COG cut short: its header reads, its last tiles do not, in the reader thread."""
    cog = tmp_path / "scene.tif"
    rasterio.shutil.copy(S2_CHIP, cog, driver="COG", blocksize=128, compress="NONE", overviews="NONE")
    data = cog.read_bytes()
    cog.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(RasterError, match=r"scene.tif: reading rows \d+-\d+ failed"):
        predict_raster(cog, tmp_path / "out.tif", runner, probabilities=True, vector=tmp_path / "out.gpkg")
    assert [p.name for p in tmp_path.iterdir()] == ["scene.tif"]
