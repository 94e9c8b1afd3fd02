"""``vectorize`` of class maps from strangers: tags whose class names are no list of names, or too
many of them, pixel values beyond the classes named, and a map too wide to vectorize in bounded
memory. Each is a one-line error, nothing written.

Before: the tags' ``classes`` were taken as ``list(json.loads(...))``: a string became its letters,
numbers or 100 000 names were accepted, and values beyond the classes were written as polygons. A
sparse map declaring 200 000 x 200 000 px (a 2 MB file) was read in chunks of 512 rows across its
whole width: killed at 120 s with 5.5 GB resident, still growing.
"""

import json
import resource
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geoadapters.raster.polygons import CHUNK_PIXELS, CHUNK_ROWS, MAX_WIDTH, chunk_height
from tests.hostile.common import refused
from tests.scenes import chip_pixels, write_like


@pytest.fixture(scope="module")
def class_map(tmp_path_factory):
    """A class map written by predict (2 classes) of the bundled model."""
    from geoadapters.cli.main import main

    folder = tmp_path_factory.mktemp("map")
    write_like(folder / "scene.tif", chip_pixels())
    assert main(["predict", str(folder / "scene.tif"), "-o", str(folder / "pred.tif")]) == 0
    return folder / "pred.tif"


def edited(class_map, path, classes=None, value=None):
    with rasterio.open(class_map) as src:
        profile, tags, pixels = src.profile, src.tags(), src.read()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels if value is None else np.full_like(pixels, value))
        dst.update_tags(**{**tags, **({} if classes is None else {"classes": classes})})
    return path


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ('"abc"', "must be a valid array"),
        ("[1, 2]", "must be a valid string"),
        (json.dumps(["x"] * 100_000), "at most 1024 items"),
        (json.dumps(["x" * 300, "y"]), "at most 256 characters"),
        ("[" * 10_000 + "]" * 10_000, "invalid"),
    ],
    ids=["a string", "numbers", "100 000 names", "a long name", "deep"],
)
def test_invalid_class_names_in_the_tags_are_one_line(classes, message, class_map, tmp_path, capsys):
    path = edited(class_map, tmp_path / "map.tif", classes=classes)
    err = refused(["vectorize", path, "-o", tmp_path / "out.gpkg"], capsys)
    assert "the class names in its tags are invalid" in err and message in err
    assert not (tmp_path / "out.gpkg").exists()


def test_values_beyond_the_named_classes_are_refused(class_map, tmp_path, capsys):
    path = edited(class_map, tmp_path / "map.tif", value=7)
    err = refused(["vectorize", path, "-o", tmp_path / "out.gpkg"], capsys)
    assert "holds class values of 2 or more" in err and not (tmp_path / "out.gpkg").exists()


def test_the_map_predict_wrote_is_vectorized(class_map, tmp_path):
    from geoadapters.cli.main import main

    assert main(["vectorize", str(class_map), "-o", str(tmp_path / "out.gpkg")]) == 0
    assert (tmp_path / "out.gpkg").stat().st_size > 0


def sparse_map(path, width, height):
    """A class map of `width` x `height` px with one block written: a small file whatever its size."""
    profile = dict(
        driver="GTiff", dtype="uint8", count=1, nodata=255, crs="EPSG:32633", tiled=True,
        blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True,
    )  # fmt: skip
    transform = from_origin(500_000, 6_000_000, 10, 10)
    with rasterio.open(path, "w", width=width, height=height, transform=transform, **profile) as dst:
        dst.write(np.zeros((1, 512, 512), np.uint8), window=((0, 512), (0, 512)))
        dst.update_tags(classes=json.dumps(["land", "water"]))
    return path


def _two_gb() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_map_too_wide_is_refused_before_it_is_read(tmp_path):
    path = sparse_map(tmp_path / "map.tif", 200_000, 200_000)
    assert path.stat().st_size < 10_000_000
    # in a process of at most 2 GB of address space: before, its first chunk alone wanted about 6 GB
    command = ["vectorize", str(path), "-o", str(tmp_path / "o.gpkg")]
    done = subprocess.run(
        [sys.executable, "-m", "geoadapters.cli.main", *command],
        capture_output=True, text=True, timeout=120, preexec_fn=_two_gb,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "200000 px wide is too wide to vectorize: at most 131072 px" in lines[0]
    assert not list(tmp_path.glob("o*")) and not list(tmp_path.glob(".o*"))


@pytest.mark.parametrize("width", [1, 4096, 8192, 8193, 20_000, MAX_WIDTH])
def test_a_chunk_holds_a_bounded_number_of_pixels(width):
    rows = chunk_height(width)
    assert rows * width <= CHUNK_PIXELS and rows >= 32
    assert rows == CHUNK_ROWS or width > 8192  # maps up to 8192 px wide are chunked as before
