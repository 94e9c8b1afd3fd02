"""``vectorize`` of class maps from strangers: tags whose class names are no list of names, or too
many of them, and pixel values beyond the classes named. Each is a one-line error, nothing written.

Before: the tags' ``classes`` were taken as ``list(json.loads(...))``: a string became its letters,
numbers or 100 000 names were accepted, and values beyond the classes were written as polygons.
"""

import json

import numpy as np
import pytest
import rasterio

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
