"""Remote scenes: a COG and a STAC item of per-band COGs served over HTTP with Range requests from
127.0.0.1, read window by window."""

import json
import shutil

import pytest
import rasterio
import rasterio.shutil

from geoadapters.errors import BandError, RasterError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.outputs import default_output
from geoadapters.raster.remote import gdal_path, remote_options
from tests.conftest import S2_CHIP, perturbed_model
from tests.range_server import RangeServer

# The S2 chip's bands that the Sen1Floods11 adapter reads: B2, B3, B4, B8A, B11, B12.
CHIP_BANDS = (2, 3, 4, 9, 12, 13)


@pytest.fixture(scope="module")
def runner(checkpoint):
    return TorchRunner(perturbed_model("lora", "linear", checkpoint))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The chip's 6 bands as a COG (128 px tiles, DEFLATE), served with Range support."""
    root = tmp_path_factory.mktemp("served")
    with rasterio.open(S2_CHIP) as src:
        data = src.read(list(CHIP_BANDS))
        names = [src.descriptions[b - 1] for b in CHIP_BANDS]
        profile = src.profile | {"count": 6, "driver": "GTiff"}
    plain = root / "plain.tif"
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = names
    rasterio.shutil.copy(plain, root / "scene.tif", driver="COG", BLOCKSIZE=128, COMPRESS="DEFLATE")
    plain.unlink()
    with RangeServer(root) as server:
        yield server


def read(path):
    with rasterio.open(path) as src:
        return src.read()


def test_urls_map_to_gdal_network_paths():
    assert gdal_path("https://h.org/a/b.tif?x=1") == "/vsicurl/https://h.org/a/b.tif?x=1"
    assert gdal_path("s3://bucket/key/scene.tif") == "/vsis3/bucket/key/scene.tif"
    assert gdal_path("gs://bucket/scene.tif") == "/vsigs/bucket/scene.tif"
    assert gdal_path("/vsicurl/http://h.org/b.tif") == "/vsicurl/http://h.org/b.tif"
    assert gdal_path("scene.tif") is None and gdal_path("/data/s.tif") is None
    for refused in ("ftp://h.org/b.tif", "file:///etc/passwd", "/vsizip//tmp/a.zip/b.tif", "/vsistdin/"):
        with pytest.raises(RasterError):
            gdal_path(refused)
    assert default_output("https://h.org/a/LC08_2020.tif?sig=1").as_posix() == "LC08_2020_pred.tif"


def test_a_remote_cog_predicts_as_the_local_file(tmp_path, served, runner):
    url = f"{served.url}/scene.tif"
    local = predict_raster(served.root / "scene.tif", tmp_path / "local.tif", runner, tile_size=128)
    served.reset()
    remote = predict_raster(url, tmp_path / "remote.tif", runner, tile_size=128)
    size = (served.root / "scene.tif").stat().st_size
    print(f"whole scene: {served.sent:,} of {size:,} bytes fetched in {served.requests} requests")
    assert remote.source == url and served.requests > 1
    assert read(remote.output).tobytes() == read(local.output).tobytes()
    vsi = predict_raster(f"/vsicurl/{url}", tmp_path / "vsi.tif", runner, tile_size=128)
    assert read(vsi.output).tobytes() == read(local.output).tobytes()


def test_a_sub_window_fetches_a_fraction_of_the_file(tmp_path, served, runner):
    """A local VRT of a 128 x 128 window of the remote COG: only that window's tiles are fetched."""
    shutil.copy(served.root / "scene.tif", served.root / "fresh.tif")  # not in GDAL's cache yet
    url = f"/vsicurl/{served.url}/fresh.tif"
    with rasterio.Env(**remote_options()), rasterio.open(url) as src:
        srs, gt = src.crs.to_wkt(), src.transform
        names = src.descriptions
    x0, y0 = 256, 128
    gt = ", ".join(map(str, (gt.c + x0 * gt.a, gt.a, 0.0, gt.f + y0 * gt.e, 0.0, gt.e)))
    bands = "".join(
        f'<VRTRasterBand dataType="Int16" band="{i}"><Description>{names[i - 1]}</Description>'
        f"<SimpleSource><SourceFilename>{url}</SourceFilename><SourceBand>{i}</SourceBand>"
        f'<SrcRect xOff="{x0}" yOff="{y0}" xSize="128" ySize="128"/>'
        '<DstRect xOff="0" yOff="0" xSize="128" ySize="128"/></SimpleSource></VRTRasterBand>'
        for i in range(1, 7)
    )
    window = tmp_path / "window.vrt"
    window.write_text(
        f'<VRTDataset rasterXSize="128" rasterYSize="128"><SRS>{srs}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{bands}</VRTDataset>"
    )
    served.reset()
    with rasterio.Env(**remote_options()):  # without, GDAL lists the server's folder when it opens a file
        report = predict_raster(window, tmp_path / "window_pred.tif", runner)
    size = (served.root / "fresh.tif").stat().st_size
    print(f"128 x 128 window of 512 x 512: {served.sent:,} of {size:,} bytes ({served.sent / size:.1%})")
    assert report.computed and 0 < served.sent < size / 4
    whole = predict_raster(served.root / "scene.tif", tmp_path / "whole.tif", runner, tile_size=128)
    assert report.class_pixels.keys() == whole.class_pixels.keys()


def test_unreachable_and_missing_urls_are_one_line_errors(tmp_path, served, runner):
    for url, message in [
        (f"{served.url}/missing.tif", "cannot be read"),
        ("http://127.0.0.1:9/scene.tif", "cannot be read"),
        ("ftp://127.0.0.1/scene.tif", "ftp:// URLs are not read"),
    ]:
        with pytest.raises(RasterError, match=message) as caught:
            predict_raster(url, tmp_path / "out.tif", runner)
        assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


COMMON_NAMES = ("blue", "green", "red", "nir08", "swir16", "swir22")  # STAC eo common names of CHIP_BANDS


def stac_item(folder, hrefs):
    """A STAC 1.0 Item with one single-band COG asset per band, named by `eo:bands` common names."""
    assets = {
        f"B{i}": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                  "roles": ["data"], "eo:bands": [{"name": f"B{i}", "common_name": name}]}
        for i, (name, href) in enumerate(zip(COMMON_NAMES, hrefs, strict=True))
    }  # fmt: skip
    assets["thumbnail"] = {"href": "thumb.png", "roles": ["thumbnail"]}
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "chip",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "geometry": {"type": "Point", "coordinates": [-0.76, 38.1]}, "bbox": [-0.79, 38.08, -0.73, 38.13],
        "properties": {"datetime": "2016-09-12T00:00:00Z"}, "links": [], "assets": assets,
    }  # fmt: skip
    path = folder / "item.json"
    path.write_text(json.dumps(item))
    return path


def test_a_stac_item_of_per_band_cogs_predicts_as_the_stacked_file(tmp_path, served, runner):
    with rasterio.open(served.root / "scene.tif") as src:
        profile = src.profile | {"count": 1, "driver": "GTiff"}
        for i in range(6):
            with rasterio.open(tmp_path / "band.tif", "w", **profile) as dst:
                dst.write(src.read(i + 1), 1)
            rasterio.shutil.copy(tmp_path / "band.tif", served.root / f"band{i}.tif", driver="COG",
                                 BLOCKSIZE=128, COMPRESS="DEFLATE")  # fmt: skip
    (tmp_path / "band.tif").unlink()
    item = stac_item(served.root, [f"./band{i}.tif" for i in range(6)])  # relative to the item
    local = predict_raster(served.root / "scene.tif", tmp_path / "stacked.tif", runner, tile_size=128)
    served.reset()
    remote = predict_raster(f"{served.url}/item.json", tmp_path / "item_pred.tif", runner, tile_size=128)
    size = sum((served.root / f"band{i}.tif").stat().st_size for i in range(6)) + item.stat().st_size
    print(f"STAC item of 6 COGs: {served.sent:,} of {size:,} bytes in {served.requests} requests")
    assert read(remote.output).tobytes() == read(local.output).tobytes()
    assert served.sent < size
    from_file = predict_raster(item, tmp_path / "file_pred.tif", runner, tile_size=128)  # a local item
    assert read(from_file.output).tobytes() == read(local.output).tobytes()

    # a remote item cannot point at this machine's files: paths resolve on its server, file:// is refused
    stac_item(served.root, [f"file://{served.root}/band{i}.tif" for i in range(6)])
    with pytest.raises(RasterError, match="file:// URLs are not read"):
        predict_raster(f"{served.url}/item.json", tmp_path / "x.tif", runner)
    stac_item(served.root, [f"./band{i}.tif" for i in range(5)] + ["./band0.tif"])
    served.root.joinpath("item.json").write_text(
        served.root.joinpath("item.json").read_text().replace('"swir22"', '"coastal"')
    )
    with pytest.raises(BandError, match="no asset holds SWIR_2"):
        predict_raster(f"{served.url}/item.json", tmp_path / "x.tif", runner)
    assert not (tmp_path / "x.tif").exists()
