"""STAC Items from strangers: hrefs to this machine's system files or out of the item's folder, a remote
item whose assets lead back to local files, huge or deeply nested JSON, no matching assets. Each is a
one-line error before any asset is opened.

Before issue 24: a local item could make predict read /etc files or files anywhere on the machine
(any raster GDAL reads), and items of any size or nesting were parsed.
"""

import json

import pytest
from rasterio.windows import Window

from geoadapters.errors import BandError, RasterError
from geoadapters.raster.stac import stac_vrt
from tests.hostile.servers import serve
from tests.scenes import chip_pixels, write_like

BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")


def item(href: str, bands=BANDS) -> dict:
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": "x", "bbox": [0, 0, 1, 1],
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "properties": {"datetime": "2020-01-01T00:00:00Z"}, "links": [],
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "assets": {"data": {"href": href, "eo:bands": [{"name": b, "common_name": b.lower()} for b in bands]}},  # noqa: E501
    }  # fmt: skip


def write_item(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("href", ["/etc/hostname", "../outside.tif", "/proc/self/environ"])
def test_a_local_item_reads_only_files_in_its_folder(tmp_path, href):
    write_like(tmp_path / "outside.tif", chip_pixels(Window(0, 0, 64, 64)))
    (tmp_path / "items").mkdir()
    path = write_item(tmp_path / "items" / "item.json", item(href))
    with pytest.raises(RasterError, match="outside the item's folder"):
        stac_vrt(path, BANDS)


def test_a_local_item_reads_the_files_beside_it(tmp_path):
    write_like(tmp_path / "scene.tif", chip_pixels(Window(0, 0, 64, 64)))
    xml, paths = stac_vrt(write_item(tmp_path / "item.json", item("scene.tif")), ("RED",))
    assert paths == [str(tmp_path / "scene.tif")] and "<VRTDataset" in xml


@pytest.mark.parametrize(
    ("href", "message"),
    [
        ("file:///etc/hostname", "file:// URLs are not read"),
        ("/vsizip//etc/x.zip/a.tif", "only GDAL's network file systems"),
        ("/etc/hostname", "/vsicurl/http://127.0.0.1"),  # resolved against the item's URL: stays remote
    ],
)
def test_a_remote_item_cannot_lead_back_to_local_files(href, message):
    with serve("json", json.dumps(item(href)).encode()) as server, pytest.raises(RasterError, match=message):
        stac_vrt(server.url(), BANDS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (json.dumps(item("scene.tif")) + " " * (17 << 20), "a JSON file here holds at most"),
        ("<html>", "not a STAC Item"),
        ("{}", "not a STAC Item"),
    ],
    ids=["deep", "huge", "html", "empty object"],
)
def test_hostile_item_files_are_refused(tmp_path, text, message):
    (tmp_path / "item.json").write_text(text)
    with pytest.raises(RasterError, match=message) as err:
        stac_vrt(tmp_path / "item.json", BANDS)
    assert "\n" not in str(err.value)


def test_an_item_without_matching_assets_names_what_is_missing(tmp_path):
    path = write_item(tmp_path / "item.json", item("scene.tif", bands=("RED",)))
    with pytest.raises(BandError, match="no asset holds BLUE, GREEN, NIR_NARROW"):
        stac_vrt(path, BANDS)
