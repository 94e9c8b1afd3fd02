"""Remote scenes: a COG served over HTTP with Range requests from 127.0.0.1, read window by window."""

import shutil

import pytest
import rasterio
import rasterio.shutil

from geoadapters.errors import RasterError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.runners import TorchRunner
from geoadapters.raster.remote import REMOTE_OPTIONS, gdal_path
from geoadapters.raster.write import default_output
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
    with rasterio.Env(**REMOTE_OPTIONS), rasterio.open(url) as src:
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
    with rasterio.Env(**REMOTE_OPTIONS):  # without, GDAL lists the server's folder when it opens a file
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
