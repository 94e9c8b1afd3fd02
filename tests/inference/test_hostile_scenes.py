"""Hostile scenes: tiny files that declare huge rasters, sparse empty TIFFs, devices, FIFOs, bad URLs,
VRTs that read other files, odd georeferences, per-band masks and bad scales.

Each case asserts the one-line error and exit code, that nothing was written, and that it is refused
before the buffers it declares are allocated (small budgets, and a memory limit in a subprocess).
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning

from geoadapters.cli.main import main
from geoadapters.errors import ResourceError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from tests.conftest import S2_CHIP, TEST_BASE, files_under, perturbed_model

ROOT = Path(__file__).parents[2]

# The S2 chip's bands that the Sen1Floods11 adapter reads: B2, B3, B4, B8A, B11, B12.
CHIP_BANDS = (2, 3, 4, 9, 12, 13)


@pytest.fixture(scope="module")
def model(checkpoint):
    return perturbed_model("lora", "linear", checkpoint)


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


def vrt(
    path: Path,
    width: int,
    height: int,
    *,
    nodata: dict[int, float] | None = None,
    source: Path = S2_CHIP,
    source_bands: tuple[int, ...] = CHIP_BANDS,
) -> Path:
    """A VRT of 6 bands of `source` declaring `width` x `height` px (a few kB on disk)."""
    with rasterio.open(source) as src:
        srs, gt = src.crs.to_wkt(), ", ".join(map(str, src.transform.to_gdal()))
    bands = "".join(
        f'<VRTRasterBand dataType="Int16" band="{i}">'
        + (f"<NoDataValue>{nodata[i]}</NoDataValue>" if nodata and i in nodata else "")
        + f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
        f"<SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
        for i, b in enumerate(source_bands, start=1)
    )
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{srs}</SRS>'
        f"<GeoTransform>{gt}</GeoTransform>{bands}</VRTDataset>"
    )
    return path


def predict_args(scene, adapter, checkpoint, *extra):
    return ["predict", str(scene), "--model", TEST_BASE, "--adapter", str(adapter),
            "--checkpoint", str(checkpoint), *map(str, extra)]  # fmt: skip


def run_cli(args, capsys, code=1):
    assert main(args) == code
    err = capsys.readouterr().err.strip()
    if code == 1:
        assert err.startswith("error: ") and "\n" not in err, err
    else:  # click's usage errors: usage line, hint, then the one line that says what is wrong
        assert err.splitlines()[-1].startswith("Error: "), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("size", "budget"),
    [(10**6, "4"), (10**7, None), (300_000, "0.5")],
    ids=["1e6 px, 4 GB", "1e7 px", "3e5 px, 0.5 GB"],
)
def test_a_tiny_vrt_declaring_a_huge_scene_is_refused_before_allocating(
    size, budget, tmp_path, adapter, checkpoint, capsys, monkeypatch
):
    scene = vrt(tmp_path / "huge.vrt", size, size)
    assert scene.stat().st_size < 4000
    if budget:
        monkeypatch.setenv("GEOADAPTERS_MEMORY_GB", budget)
    before = files_under(tmp_path)
    err = run_cli(predict_args(scene, adapter, checkpoint, "--bands", "1,2,3,4,5,6"), capsys)
    assert "needs about" in err and "over the budget" in err
    assert files_under(tmp_path) == before


def test_the_refusal_holds_under_a_memory_limit(tmp_path, adapter, checkpoint):
    """Under a 12 GB address-space limit, the 1e6 x 1e6 VRT is a one-line error, not a MemoryError."""
    scene = vrt(tmp_path / "huge.vrt", 10**6, 10**6)
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30)); "
        "import tests.conftest; "  # registers the test base in this process
        "from geoadapters.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    env = os.environ | {"GEOADAPTERS_MEMORY_GB": "2"}
    args = predict_args(scene, adapter, checkpoint, "--bands", "1,2,3,4,5,6")
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "over the budget" in result.stderr and not (tmp_path / "huge_pred.tif").exists()


def test_huge_tiles_are_refused(tmp_path, model, adapter, checkpoint, capsys):
    with pytest.raises(ResourceError, match="needs about"):
        predict_raster(S2_CHIP, tmp_path / "out.tif", TorchRunner(model), tile_size=100_000)
    run_cli(predict_args(S2_CHIP, adapter, checkpoint, "-o", tmp_path / "o.tif", "--tile-size", "100000"),
            capsys, code=2)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def sparse_empty(path: Path, size: int) -> Path:
    with rasterio.open(S2_CHIP) as src:
        crs, transform = src.crs, src.transform
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 6, "dtype": "int16", "nodata": 0,
               "crs": crs, "transform": transform, "tiled": True, "blockxsize": 512, "blockysize": 512,
               "compress": "deflate", "SPARSE_OK": "TRUE", "BIGTIFF": "YES"}  # fmt: skip
    with rasterio.open(path, "w", **profile):
        pass  # no block written: every block reads as nodata
    return path


def test_a_sparse_all_nodata_tiff_is_refused_from_its_block_index(tmp_path, adapter, checkpoint, capsys):
    scene = sparse_empty(tmp_path / "empty.tif", 100_000)
    assert scene.stat().st_size < 1 << 20  # 10^10 px in under 1 MB
    before = files_under(tmp_path)
    err = run_cli(predict_args(scene, adapter, checkpoint), capsys)
    assert "no valid pixels" in err
    assert files_under(tmp_path) == before


def not_files(tmp: Path) -> dict[str, tuple[str, str]]:
    """Scene arguments that are no regular file, and the error each must give."""
    (tmp / "zero.tif").symlink_to("/dev/zero")
    os.mkfifo(tmp / "fifo.tif")
    (tmp / "folder.tif").mkdir()
    (tmp / "dangling.tif").symlink_to(tmp / "nowhere.tif")
    return {
        "symlink to /dev/zero": (str(tmp / "zero.tif"), "not a regular file"),
        "FIFO": (str(tmp / "fifo.tif"), "not a regular file"),
        "folder": (str(tmp / "folder.tif"), "not a regular file"),
        "dangling symlink": (str(tmp / "dangling.tif"), "no such file"),
        # URLs are read through GDAL's network file systems, never as local paths (see test_remote.py)
        "unreachable URL": ("http://127.0.0.1:9/a/s.tif", "http://127.0.0.1:9/a/s.tif cannot be read"),
        "unreachable vsicurl": ("/vsicurl/http://127.0.0.1:9/scene.tif", "cannot be read"),
        "other scheme": ("file:///etc/passwd", "file:// URLs are not read"),
        "local /vsi path": (f"/vsizip/{tmp}/a.zip/scene.tif", "only GDAL's network file systems"),
    }


def test_scenes_that_are_no_regular_file(tmp_path, adapter, checkpoint, capsys):
    for case, (scene, message) in not_files(tmp_path).items():
        before = sorted(p.name for p in tmp_path.iterdir())
        err = run_cli(predict_args(scene, adapter, checkpoint, "-o", tmp_path / "out"), capsys)
        assert message in err, (case, err)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, case


def test_geotiff_only_refuses_vrts_and_other_formats(tmp_path, adapter, checkpoint, capsys):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(64 * 64 * 2))
    raw = tmp_path / "raw.vrt"  # a VRT that reads any local file as raster bands
    raw.write_text(
        '<VRTDataset rasterXSize="64" rasterYSize="64">'
        + "".join(
            f'<VRTRasterBand dataType="Int16" band="{i}" subClass="VRTRawRasterBand">'
            f"<SourceFilename>{secret}</SourceFilename><ImageOffset>0</ImageOffset>"
            "<PixelOffset>2</PixelOffset><LineOffset>128</LineOffset></VRTRasterBand>"
            for i in range(1, 7)
        )
        + "</VRTDataset>"
    )
    png = tmp_path / "scene.png"
    with rasterio.open(png, "w", driver="PNG", width=8, height=8, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 8, 8), np.uint8))
    for scene in (raw, vrt(tmp_path / "small.vrt", 512, 512), png):
        before = files_under(tmp_path)
        err = run_cli(predict_args(scene, adapter, checkpoint, "--inputs", "geotiff"), capsys)
        assert "is not a GeoTIFF" in err
        assert files_under(tmp_path) == before
    assert (
        main(predict_args(S2_CHIP, adapter, checkpoint, "--inputs", "geotiff", "-o", tmp_path / "ok.tif"))
        == 0
    )


def test_a_gcp_only_scene_says_so(tmp_path, adapter, checkpoint, capsys):
    with rasterio.open(S2_CHIP) as src:
        data = src.read(list(CHIP_BANDS))
    gcps = [GroundControlPoint(0, 0, -0.78, 38.12), GroundControlPoint(512, 512, -0.73, 38.08),
            GroundControlPoint(0, 512, -0.78, 38.08)]  # fmt: skip
    scene = tmp_path / "gcps.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(scene, "w", driver="GTiff", width=512, height=512, count=6, dtype="int16",
                           gcps=gcps, crs="EPSG:4326") as dst:  # fmt: skip
            dst.write(data)
    if rasterio.open(scene).crs is not None:
        pytest.skip("this GDAL reports the GCPs' CRS as the dataset's")
    err = run_cli(predict_args(scene, adapter, checkpoint, "--bands", "1,2,3,4,5,6"), capsys)
    assert "ground control points" in err


def test_per_band_nodata_and_mask_bands_are_honoured(tmp_path, model):
    """Pixels that only band 4's nodata value, or only an internal mask, marks as empty are nodata."""
    with rasterio.open(S2_CHIP) as src:
        data = src.read(list(CHIP_BANDS))
        profile = src.profile | {
            "count": 6,
            "nodata": None,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
    data[3, :100, :100] = 9999  # band 4 says "no data" there; bands 1-3 and 5-6 look valid
    base = tmp_path / "bands.tif"
    with rasterio.open(base, "w", **profile) as dst:
        dst.write(data)
    scene = vrt(
        tmp_path / "per_band.vrt", 512, 512, nodata={4: 9999}, source=base, source_bands=(1, 2, 3, 4, 5, 6)
    )
    out = predict_raster(
        scene, tmp_path / "per_band_pred.tif", TorchRunner(model), bands=list("123456")
    ).output
    with rasterio.open(out) as result:
        classes = result.read(1)
    assert (classes[:100, :100] == 255).all() and (classes[200:, 200:] != 255).all()

    masked = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "w", **profile) as dst:
        dst.write(data)
        mask = np.full((512, 512), 255, np.uint8)
        mask[-64:, -64:] = 0
        dst.write_mask(mask)
    out = predict_raster(masked, None, TorchRunner(model), bands=list("123456"), nodata=None).output
    with rasterio.open(out) as result:
        classes = result.read(1)
    assert (classes[-64:, -64:] == 255).all() and (classes[:64, 200:264] != 255).all()


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf", "-inf"])
def test_scale_must_be_finite_and_positive(scale, tmp_path, model, adapter, checkpoint, capsys):
    err = run_cli(predict_args(S2_CHIP, adapter, checkpoint, "-o", tmp_path / "o.tif", "--scale", scale),
                  capsys, code=2)  # fmt: skip
    assert "finite positive" in err
    with pytest.raises(ValueError, match="finite positive"):
        predict_raster(S2_CHIP, tmp_path / "o.tif", TorchRunner(model), scale=float(scale))
    assert list(tmp_path.iterdir()) == []
