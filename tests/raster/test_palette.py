"""One palette: the colour table of a written class map is the demo's colours and legend."""

import numpy as np
import rasterio

from demo.pictures import class_colours, legend_html
from geoadapters.raster.palette import class_colors
from geoadapters.raster.write import PredictionWriter
from tests.conftest import S2_CHIP


def _written_colours(tmp_path, classes, colors=()):
    with (
        rasterio.open(S2_CHIP) as like,
        PredictionWriter(tmp_path / "map.tif", like, classes=classes, colors=colors) as out,
    ):
        logits = np.zeros((len(classes), like.height, like.width), np.float32)
        out.write(0, logits, np.ones((like.height, like.width), bool))
    with rasterio.open(tmp_path / "map.tif") as written:
        table = written.colormap(1)
    return [table[i] for i in range(len(classes))]


def test_the_adapters_colours_come_first(tmp_path):
    colours = ("#f5deb3", "#1e6ee6")
    assert class_colours(["Not water", "Water"], colours) == [(245, 222, 179), (30, 110, 230)]
    assert "rgb(30, 110, 230)" in legend_html(["Not water", "Water"], colours)
    assert _written_colours(tmp_path, ["Not water", "Water"], colours) == [
        (245, 222, 179, 255),
        (30, 110, 230, 255),
    ]


def test_without_colours_water_is_blue_in_the_file_and_the_demo(tmp_path):
    classes = ["Not water", "Water", "Snow"]
    written = _written_colours(tmp_path, classes)
    assert written[1] == (30, 110, 230, 255)  # water is blue in the colour table
    assert [c[:3] for c in written] == class_colours(classes)  # and in the demo's pictures
    assert written[2] == class_colors(classes)[2]  # an unknown name takes the palette
