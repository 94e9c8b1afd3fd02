"""Each dataset read through its data module from a fixture in the published layout.

Expected values are computed here from the fixture files with rasterio, h5py and numpy, and the
paper's constants are written out again (IBM/peft-geofm datamodules), so a change in the code under
test shows up as a difference.
"""

import datetime as dt
import json
import math

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import torch

from geoadapters.bands import BandError
from tests.training import layouts
from tests.training.geo import utm_to_latlon
from training.datamodule import GeoDataModule
from training.errors import DatasetError

BURN_MEAN = [0.0525628887, 0.0779808834, 0.0946640745, 0.2139334530, 0.2355762571, 0.1710367799]
BURN_STD = [0.0308036711, 0.0375606678, 0.0549106970, 0.0701380521, 0.0910611823, 0.0835518017]
S1F11_MEAN_6 = [0.1412956, 0.13795798, 0.12353792, 0.30902815, 0.2044958, 0.11912015]
S1F11_STD_6 = [0.07406382, 0.07370365, 0.08692279, 0.11798815, 0.09772074, 0.07659938]
CASHEW_MEAN_6 = [
    634.7583618164062,
    892.461181640625,
    880.7075805664062,
    2643.531982421875,
    2463.933349609375,
    1600.9207763671875,
]
CASHEW_STD_6 = [
    227.25344848632812,
    222.32545471191406,
    350.47235107421875,
    415.1019592285156,
    494.97430419921875,
    514.4229736328125,
]
REBEN_MEAN_6 = [
    438.3720703125,
    614.0556640625,
    588.4096069335938,
    2235.556640625,
    1568.226806640625,
    997.7324829101562,
]
REBEN_STD_6 = [
    607.02685546875,
    603.2968139648438,
    684.56884765625,
    1356.5440673828125,
    1070.1612548828125,
    813.5276489257812,
]
WAVES_6 = [0.493, 0.56, 0.665, 0.865, 1.61, 2.19]


def normalised(image: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    return (image - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]


def batches(dm, loader):
    return [dm.on_after_batch_transfer(batch, 0) for batch in loader]


def clay_time(date: dt.datetime) -> list[float]:
    week, hour = date.isocalendar()[1] * 2 * math.pi / 52, date.hour * 2 * math.pi / 24
    return [math.sin(week), math.cos(week), math.sin(hour), math.cos(hour)]


def test_burn_scars_reads_the_hf_layout_as_the_paper(burn_scars):
    root, splits = burn_scars
    dm = GeoDataModule(
        "burn_scars", root, base="prithvi-300", metadata="prithvi_tl", splits=splits, batch_size=2
    )
    dm.setup("fit")
    dm.setup("test")
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [3, 2, 2]
    (test,) = dm.test_dataloader()
    batch = batches(dm, test)[0]
    assert batch["image"].dtype == torch.float32 and batch["mask"].dtype == torch.int64
    assert batch["id"] == layouts.BURN_SPLITS["test"]
    for i, chip in enumerate(layouts.BURN_SPLITS["test"]):
        folder = root / "training"
        with rasterio.open(folder / layouts.burn_name(chip, "_merged.tif")) as src:
            raw, transform = src.read(), src.transform
        with rasterio.open(folder / layouts.burn_name(chip, ".mask.tif")) as src:
            mask = src.read(1)
        expected = normalised(np.nan_to_num(raw, nan=0.0), BURN_MEAN, BURN_STD)
        np.testing.assert_allclose(batch["image"][i].numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(batch["mask"][i].numpy(), mask)  # nodata is -1 in the file already
        date = dt.datetime.strptime(chip.split(".")[1], "%Y%j")
        assert batch["temporal_coords"][i].tolist() == [[date.year, date.timetuple().tm_yday - 1]]
        x, y = transform @ (256.5, 256.5)
        np.testing.assert_allclose(batch["location_coords"][i].numpy(), utm_to_latlon(x, y, 10), atol=1e-5)
    # The real mask: burn scars and background, no missing data.
    assert set(np.unique(batch["mask"][0].numpy())) == {0, 1}
    assert (batch["mask"][1] == -1).sum() == 16


def test_burn_scars_for_clay_has_its_six_bands_gsd_30_and_waves(burn_scars):
    root, splits = burn_scars
    dm = GeoDataModule("burn_scars", root, base="clay-v1", metadata="clay_gw", splits=splits, batch_size=2)
    dm.setup("validate")
    batch = batches(dm, dm.val_dataloader())[0]
    assert batch["image"].shape == (2, 6, 512, 512)
    assert batch["gsd"] == 30
    np.testing.assert_allclose(batch["waves"].numpy(), WAVES_6)
    assert "time" not in batch and "latlon" not in batch


def test_sen1floods11_scales_selects_bands_and_dates_by_event(sen1floods11):
    root, splits = sen1floods11
    dm = GeoDataModule(
        "sen1floods11", root, base="prithvi-300-tl", metadata="prithvi_tl", splits=splits, batch_size=2
    )
    dm.setup("test")
    test, bolivia = dm.test_dataloader()
    assert len(bolivia.dataset) == 2
    batch = batches(dm, test)[0]
    assert batch["id"] == ["Spain_7370579", "Mekong_333434"]
    with rasterio.open(layouts.S2_CHIP) as src:
        raw, transform = src.read([2, 3, 4, 9, 12, 13]), src.transform  # B2 B3 B4 B8A B11 B12
    with rasterio.open(layouts.S2_LABEL) as src:
        label = src.read(1)
    expected = normalised(raw.astype(np.float64) * 0.0001, S1F11_MEAN_6, S1F11_STD_6)
    np.testing.assert_allclose(batch["image"][0].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batch["mask"][0].numpy(), label)
    assert (batch["mask"][0] == -1).any()
    # Spain's s2_date is 2019/09/18 (day 261), Mekong's (named Cambodia in the geojson) 2018/08/04 (day 216).
    assert batch["temporal_coords"].tolist() == [[[2019, 260]], [[2018, 215]]]
    lon, lat = transform @ (256.5, 256.5)
    np.testing.assert_allclose(batch["location_coords"][0].numpy(), [lat, lon], atol=1e-5)


def test_sen1floods11_decur_reads_13_bands_and_clay_time(sen1floods11):
    root, splits = sen1floods11
    dm = GeoDataModule(
        "sen1floods11", root, base="decur-s2", metadata="clay_tlgw", splits=splits, batch_size=2
    )
    dm.setup("test")
    batch = batches(dm, dm.test_dataloader()[0])[0]
    assert batch["image"].shape == (2, 13, 512, 512)
    date = dt.datetime(2019, 9, 18, 12)
    np.testing.assert_allclose(batch["time"][0].numpy(), clay_time(date), atol=1e-6)
    assert batch["gsd"] == 10 and batch["waves"].shape == (13,)


@pytest.mark.parametrize("dataset", ["cashew", "sa_crop"])
def test_geobench_reads_hdf5_by_band_name_and_keeps_class_zero(dataset, request):
    root, own = request.getfixturevalue(dataset)
    name = "m_cashew_plantation" if dataset == "cashew" else "m_sa_crop_type"
    folder = root / ("m-cashew-plant" if dataset == "cashew" else "m-SA-crop-type")
    dm = GeoDataModule(name, root, base="prithvi-300", metadata="prithvi_tl", batch_size=2)
    dm.setup("fit")
    dm.setup("test")
    partition = json.loads((folder / "default_partition.json").read_text())
    assert [dm.datasets[s].ids for s in ("train", "val", "test")] == [
        partition[k] for k in ("train", "valid", "test")
    ]
    batch = batches(dm, dm.val_dataloader())[0]
    names = ["02 - Blue", "03 - Green", "04 - Red", "08A - Vegetation Red Edge", "11 - SWIR", "12 - SWIR"]
    suffix = f"_{layouts.CASHEW_DATE}" if dataset == "cashew" else ""
    with h5py.File(folder / f"{partition['valid'][0]}.hdf5") as h5:
        raw = np.stack([h5[n + suffix][()] for n in names]).astype(np.float64)
        label = h5["label"][()]
    if dataset == "cashew":
        expected = normalised(raw, CASHEW_MEAN_6, CASHEW_STD_6)
        np.testing.assert_allclose(batch["image"][0].numpy(), expected, rtol=1e-5, atol=1e-4)
        assert batch["temporal_coords"].tolist() == [[[2019, 318]]] * 2  # 2019-11-15 is day 319
    else:
        assert "temporal_coords" not in batch  # the task has no dates
    assert "location_coords" not in batch
    np.testing.assert_array_equal(batch["mask"][0].numpy(), label)
    assert batch["mask"].dtype == torch.int64 and (batch["mask"] == 0).any() and (batch["mask"] >= 0).all()
    # Another partition file in the same format.
    other = GeoDataModule(name, root, splits=own)
    other.setup("fit")
    assert len(other.datasets["train"]) == 1


def test_reben_segmentation_maps_corine_codes_and_pads_to_128(reben):
    root, splits = reben
    dm = GeoDataModule("reben", root, base="prithvi-300", metadata="clay_tlgw", splits=splits, batch_size=2)
    dm.setup("test")
    assert [len(loader.dataset) for loader in dm.test_dataloader()] == [2, 2, 2, 2]
    austria = dm.test_dataloader()[2]
    batch = batches(dm, austria)[0]
    assert batch["id"][0] == layouts.REBEN_MAP_PATCH
    assert batch["image"].shape == (2, 6, 128, 128) and batch["mask"].shape == (2, 128, 128)
    with rasterio.open(root / "S2_merged" / f"{layouts.REBEN_MAP_PATCH}.tif") as src:
        raw, transform = src.read([2, 3, 4, 9, 11, 12]).astype(np.float64), src.transform
    expected = np.pad(normalised(raw, REBEN_MEAN_6, REBEN_STD_6), ((0, 0), (0, 8), (0, 8)), mode="reflect")
    np.testing.assert_allclose(batch["image"][0].numpy(), expected, rtol=1e-5, atol=1e-5)
    with rasterio.open(layouts.REBEN / f"{layouts.REBEN_MAP_PATCH}_reference_map.tif") as src:
        codes = src.read(1)
    # CORINE 211 arable land, 231 pastures, 311 broad-leaved, 313 mixed forest -> BigEarthNet-19 indices.
    expected_mask = np.full((128, 128), -1)
    expected_mask[:120, :120] = np.vectorize({211: 1, 231: 15, 311: 3, 313: 12}.__getitem__)(codes)
    np.testing.assert_array_equal(batch["mask"][0].numpy(), expected_mask)
    assert (batch["mask"][1, :3, :3] == -1).all()  # code 999 (unlabelled) is ignored
    # Acquired 2017-06-13 10:10:31; centre pixel of the patch in UTM 33N.
    np.testing.assert_allclose(
        batch["time"][0].numpy(), clay_time(dt.datetime(2017, 6, 13, 10, 10, 31)), atol=1e-6
    )
    lat, lon = utm_to_latlon(*(transform @ (60.5, 60.5)), 33)
    lat, lon = math.radians(lat), math.radians(lon)
    expected_latlon = [math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)]
    np.testing.assert_allclose(batch["latlon"][0].numpy(), expected_latlon, atol=1e-6)


def test_reben_classification_labels_come_from_the_metadata(reben):
    root, splits = reben
    dm = GeoDataModule("reben", root, options={"label": "classification"}, splits=splits, batch_size=2)
    dm.setup("test")
    batch = batches(dm, dm.test_dataloader()[2])[0]
    assert (
        "mask" not in batch and batch["label"].shape == (2, 19) and batch["image"].shape == (2, 12, 128, 128)
    )
    # Arable land, Broad-leaved forest, Mixed forest, Pastures: the same classes as its reference map.
    assert torch.nonzero(batch["label"][0]).flatten().tolist() == [1, 3, 12, 15]
    table = pq.read_table(root / "metadata.parquet").to_pylist()
    row = next(r for r in table if r["patch_id"] == batch["id"][1])
    assert int(batch["label"][1].sum()) == len(row["labels"])


def test_bands_and_roots_are_checked(burn_scars, tmp_path):
    root, splits = burn_scars
    with pytest.raises(BandError, match="CIRRUS"):
        dm = GeoDataModule("burn_scars", root, bands=["BLUE", "CIRRUS"], splits=splits)
        dm.setup("fit")
    with pytest.raises(DatasetError, match="training/ or validation/"):
        GeoDataModule("burn_scars", tmp_path).setup("fit")
