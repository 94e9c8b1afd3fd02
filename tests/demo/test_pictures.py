"""Class colours of the demo's pictures: the adapter's own, else by class name, else the palette."""

from demo.pictures import class_colours, legend_html
from geoadapters.raster.write import class_colormap


def test_the_adapters_colours_come_first():
    assert class_colours(["Not water", "Water"], ("#f5deb3", "#1e6ee6")) == [(245, 222, 179), (30, 110, 230)]
    assert "rgb(30, 110, 230)" in legend_html(["Not water", "Water"], ("#f5deb3", "#1e6ee6"))


def test_without_colours_common_names_then_the_palette():
    water, other = class_colours(["Water", "Snow"])
    assert water == (30, 110, 230)  # water is blue
    assert other == class_colormap(2)[1][:3]  # an unknown name takes the prediction file's palette
