"""predict as GIS users expect it: class names and colours, probabilities, polygons, the adapter's base."""

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
from rasterio.features import shapes
from rasterio.windows import Window

import geoadapters
from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError, BandError
from geoadapters.inference.predict import predict_raster
from geoadapters.inference.torch_runner import TorchRunner
from geoadapters.raster.area import class_areas
from geoadapters.raster.outputs import VectorOptions
from tests.conftest import HLS_CHIP, S2_CHIP, TEST_BASE, perturbed_model
from tests.scenes import chip_pixels, write_like

COLORS = ("#000000", "#1f78b4")  # not water, water (blue)


@pytest.fixture(scope="module")
def model(checkpoint):
    model = perturbed_model("lora", "linear", checkpoint)
    model.config = dataclasses.replace(model.config, colors=COLORS)  # its classes coloured
    return model


@pytest.fixture(scope="module")
def adapter(model, tmp_path_factory):
    return model.save_pretrained(tmp_path_factory.mktemp("adapters") / "sen1floods11-lora")


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    return write_like(tmp_path_factory.mktemp("scenes") / "small.tif", chip_pixels(Window(100, 0, 150, 130)))


def test_colours_live_in_geoadapter_json_and_old_files_stay_readable(adapter):
    data = json.loads((adapter / "geoadapter.json").read_text())
    assert data["classes"] == [
        {"name": "not water", "color": "#000000"},
        {"name": "water", "color": "#1f78b4"},
    ]
    assert data["base"]["pretrained"] is True
    old = json.loads((adapter / "geoadapter.json").read_text())
    old["classes"] = ["not water", "water"]
    del old["base"]["pretrained"]
    config = AdapterConfig.from_dict(old)
    assert config.colors == () and config.base.pretrained
    with pytest.raises(AdapterError, match="#rrggbb"):
        AdapterConfig.from_dict(
            data | {"classes": [{"name": "a", "color": "blue"}, {"name": "b", "color": "red"}]}
        )


def test_class_map_has_colours_category_names_and_an_attribute_table(tmp_path, model, small_scene):
    report = predict_raster(small_scene, tmp_path / "map.tif", TorchRunner(model))
    with rasterio.open(report.output) as out:
        assert out.dtypes == ("uint8",)
        colormap = out.colormap(1)
        # GDAL found and loaded the PAM sidecar (it lists the .aux.xml among the dataset's files)
        assert str(report.output) + ".aux.xml" in out.files
        labels = out.read(1)
    assert colormap[0][:3] == (0, 0, 0) and colormap[1][:3] == (0x1F, 0x78, 0xB4)
    band = ET.parse(str(report.output) + ".aux.xml").getroot().find("PAMRasterBand")
    assert [c.text for c in band.find("CategoryNames")] == ["not water", "water"]
    table = band.find("GDALRasterAttributeTable")
    assert [f.find("Name").text for f in table.findall("FieldDefn")][:3] == ["Value", "Class", "Count"]
    rows = [[f.text for f in row.findall("F")] for row in table.findall("Row")]
    assert [r[:2] for r in rows] == [["0", "not water"], ["1", "water"]]
    counts = [int((labels == v).sum()) for v in (0, 1)]
    assert [int(r[2]) for r in rows] == counts == list(report.class_pixels.values())
    assert [tuple(map(int, r[3:6])) for r in rows] == [(0, 0, 0), (0x1F, 0x78, 0xB4)]


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_probability_cog_sums_to_one_hundred_per_cent(tmp_path, model, dtype):
    data = chip_pixels(Window(100, 0, 150, 130))
    data[:, :10, :10] = 0  # nodata
    scene = write_like(tmp_path / "holes.tif", data)
    report = predict_raster(scene, None, TorchRunner(model), probabilities=True, probability_dtype=dtype)
    assert report.probabilities == tmp_path / "holes_pred_proba.tif"
    with rasterio.open(report.probabilities) as proba, rasterio.open(report.output) as out:
        assert proba.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (proba.crs, proba.transform, proba.count, proba.dtypes[0]) == (
            out.crs,
            out.transform,
            2,
            dtype,
        )
        bands = proba.read()
        valid = out.read(1) != 255
    total = bands.astype(np.float64).sum(axis=0)
    if dtype == "uint8":
        assert (total[valid] == 100).all() and (bands[:, ~valid] == 255).all()
    else:
        np.testing.assert_allclose(total[valid], 1, atol=1e-6)
        assert np.isnan(bands[:, ~valid]).all()
    assert not valid[:10, :10].any() and valid.sum() == 150 * 130 - 100


def test_polygons_are_valid_merged_across_tiles_and_add_up_to_the_pixels(tmp_path, model):
    # 512 x 512 px in 64 px tiles: 11 tile rows, so polygons cross many strip borders
    report = predict_raster(
        S2_CHIP, tmp_path / "map.tif", TorchRunner(model), vector=tmp_path / "water.gpkg",
        vector_options=VectorOptions(simplify=0),
    )  # fmt: skip
    assert report.vector == tmp_path / "water.gpkg"
    meta, _, wkb, fields = pyogrio.raw.read(report.vector)
    polygons = shapely.from_wkb(wkb)
    names, values, pixels, area, confidence = fields
    assert ((confidence > 0.5 - 1e-9) & (confidence <= 1)).all()  # the largest of two probabilities
    with rasterio.open(report.output) as out:
        labels, transform, crs = out.read(1), out.transform, out.crs
    assert rasterio.crs.CRS.from_user_input(meta["crs"]) == crs
    assert shapely.is_valid(polygons).all()
    # merged: as many polygons as polygonising the whole class map at once gives
    whole = list(shapes(labels, mask=labels != 255))
    assert len(polygons) == len(whole)
    pixel_area = abs(transform.a * transform.e)
    for value, name in enumerate(["not water", "water"]):
        mine = values == value
        assert set(names[mine]) == {name}
        assert pixels[mine].sum() == (labels == value).sum()
        # m² on the ground (the chip is in EPSG:4326; the area module is checked against pyproj)
        np.testing.assert_allclose(area[mine].sum(), class_areas(report.output, ["not water", "water"])[name])
        np.testing.assert_allclose(shapely.area(polygons[mine]).sum(), pixels[mine].sum() * pixel_area)
    west, south, east, north = rasterio.transform.array_bounds(*labels.shape, transform)
    xmin, ymin, xmax, ymax = shapely.total_bounds(polygons)
    assert west - 1e-9 <= xmin < xmax <= east + 1e-9 and south - 1e-9 <= ymin < ymax <= north + 1e-9


def test_load_takes_the_base_the_adapter_names(adapter, model, checkpoint):
    loaded = geoadapters.load(adapter, checkpoint=checkpoint)
    assert loaded.config.base.name == TEST_BASE
    raw = torch.from_numpy(chip_pixels(Window(0, 0, 64, 64))[[1, 2, 3, 8, 11, 12]][None].astype("float32"))
    with torch.no_grad():
        np.testing.assert_allclose(loaded(loaded.normalize(raw)), model(model.normalize(raw)), atol=1e-6)
    with pytest.raises(AdapterError, match=f"made for {TEST_BASE}, not prithvi-100"):
        geoadapters.load("prithvi-100", adapter)


def test_an_adapter_trained_on_a_random_base_is_not_loaded_onto_official_weights(tmp_path, checkpoint):
    model = geoadapters.create(TEST_BASE, "lora", classes=["a", "b"], pretrained=False)
    folder = model.save_pretrained(tmp_path / "random-lora")
    assert json.loads((folder / "geoadapter.json").read_text())["base"]["pretrained"] is False
    with pytest.raises(AdapterError, match=r"not loaded: it was trained on randomly initialised"):
        geoadapters.load(folder, checkpoint=checkpoint)
    full = geoadapters.create(TEST_BASE, "full", classes=["a", "b"], pretrained=False)
    assert geoadapters.load(full.save_pretrained(tmp_path / "random-full")).config.base.pretrained is False


def test_band_numbers_that_contradict_the_descriptions_are_an_error(tmp_path, model):
    with pytest.raises(BandError, match=r"band 1 is 'B1' \(COASTAL_AEROSOL\), not BLUE"):
        predict_raster(S2_CHIP, tmp_path / "x.tif", TorchRunner(model), bands=["1", "2", "3", "4", "5", "6"])
    assert list(tmp_path.iterdir()) == []


def test_resample_reads_at_the_adapters_gsd_and_writes_on_the_scenes_grid(tmp_path, model):
    # 30 m HLS pixels, an adapter trained at 10 m: read warped 3x finer, written back at 30 m
    with rasterio.open(HLS_CHIP) as src:
        pixels = src.read(window=Window(0, 0, 60, 50))
        profile = src.profile | {
            "width": 60,
            "height": 50,
            "transform": src.window_transform(Window(0, 0, 60, 50)),
        }
    scene = tmp_path / "hls.tif"
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(pixels)
    report = predict_raster(
        scene,
        tmp_path / "out.tif",
        TorchRunner(model),
        bands=["2", "3", "4", "5", "6", "7"],
        resample=True,
        probabilities=True,
        vector=tmp_path / "out.gpkg",
    )  # fmt: skip  (no GsdWarning: the pytest configuration turns it into an error)
    assert report.tiles == 4 * 3  # a 180 x 150 px warped grid: ceil((180 - 64) / 48) + 1 by ceil(86 / 48) + 1
    with (
        rasterio.open(scene) as src,
        rasterio.open(report.output) as out,
        rasterio.open(report.probabilities) as p,
    ):
        for dst in (out, p):
            assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        classes = out.read(1)
        assert (classes != 255).mean() > 0.95 and set(np.unique(classes)) <= {0, 1, 255}
        assert (p.read().astype(int).sum(axis=0)[classes != 255] == 100).all()
    assert sum(report.class_pixels.values()) == (classes != 255).sum()
    assert sorted(x.name for x in tmp_path.iterdir()) == [
        "hls.tif", "out.gpkg", "out.tif", "out.tif.aux.xml", "out_proba.tif",
    ]  # fmt: skip
