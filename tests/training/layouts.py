"""Write small data roots in the published layouts of the paper's five datasets, from real chips.

Each writer fills a root with a few samples per split (ids taken from the paper's lists) and a
folder of split lists for them (the "subset of the data" that ``--splits DIR`` reads), and returns
both. Real chips from ``tests/data`` (see its ATTRIBUTION.md) are used where they exist; the rest
is derived from them or synthetic, written with the published names, dtypes, nodata and grids.
"""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

DATA = Path(__file__).parents[1] / "data"
BURN_MASK = DATA / "burn_scars" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
S2_CHIP = DATA / "sen1floods11" / "Spain_7370579_S2Hand.tif"
S2_LABEL = DATA / "sen1floods11" / "Spain_7370579_LabelHand.tif"
S1F11_METADATA = DATA / "sen1floods11" / "Sen1Floods11_Metadata.geojson"
REBEN = DATA / "reben"
REBEN_PATCH = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"  # real band files
REBEN_MAP_PATCH = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"  # real reference map
REBEN_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def write_lists(folder: Path, lists: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, ids in lists.items():
        (folder / name).write_text("".join(f"{i}\n" for i in ids))
    return folder


# --- HLS Burn Scars ------------------------------------------------------------------------------
BURN_SPLITS = {
    "train": ["T10SEJ.2018185.v1", "T10SFE.2020267.v1", "T10SFE.2021166.v1"],
    "val": ["T10SEJ.2018220.v1", "T10SFG.2020185.v1"],
    "test": ["T10TGS.2018285.v1", "T10SDH.2020248.v1"],
}


def burn_image(index: int) -> np.ndarray:
    """Six float32 reflectance bands: band k around 0.05 (k + 1), a few NaN pixels."""
    rng = np.random.default_rng(index)
    image = (
        0.05 * np.arange(1, 7, dtype=np.float32)[:, None, None] + rng.uniform(0, 0.01, (6, 512, 512))
    ).astype(np.float32)
    image[:, 0, :3] = np.nan
    return image


def burn_name(chip: str, suffix: str) -> str:
    tile, date, _ = chip.split(".")
    return f"subsetted_512x512_HLS.S30.{tile}.{date}.v1.4{suffix}"


def write_burn_scars(root: Path) -> tuple[Path, Path]:
    """HF archive layout: train and test chips in training/, val chips in validation/."""
    with rasterio.open(BURN_MASK) as src:
        real_mask, crs, origin = src.read(1), src.crs, src.transform
    chips = [c for ids in BURN_SPLITS.values() for c in ids]
    for index, chip in enumerate(chips):
        folder = root / ("validation" if chip in BURN_SPLITS["val"] else "training")
        folder.mkdir(parents=True, exist_ok=True)
        # Chips side by side 20 km apart (512 px x 30 m = 15.36 km): no footprints overlap.
        transform = origin @ Affine.translation((index + 1) * 700, 0)
        if chip == "T10TGS.2018285.v1":
            transform, mask = origin, real_mask
        else:
            mask = np.roll(real_mask, 37 * index, axis=1)
            mask[:4, :4] = -1
        profile = {"driver": "GTiff", "height": 512, "width": 512, "crs": crs, "transform": transform}
        with rasterio.open(
            folder / burn_name(chip, "_merged.tif"), "w", count=6, dtype="float32", **profile
        ) as dst:
            dst.write(burn_image(index))
        if chip == "T10TGS.2018285.v1":
            shutil.copy(BURN_MASK, folder / burn_name(chip, ".mask.tif"))
        else:
            with rasterio.open(
                folder / burn_name(chip, ".mask.tif"), "w", count=1, dtype="int16", nodata=-1, **profile
            ) as dst:
                dst.write(mask, 1)
    names = {"train": "train_data.txt", "val": "val_data.txt", "test": "test_data.txt"}
    return root, write_lists(
        root.parent / "burn_scars_splits", {names[s]: ids for s, ids in BURN_SPLITS.items()}
    )


# --- Sen1Floods11 -------------------------------------------------------------------------------
S1F11_SPLITS = {
    "train": ["Ghana_103272", "Ghana_24858", "Ghana_147015"],
    "val": ["Ghana_5079", "Ghana_895194"],
    "test": ["Spain_7370579", "Mekong_333434"],
    "bolivia": ["Bolivia_103757", "Bolivia_129334"],
}


def write_sen1floods11(root: Path) -> tuple[Path, Path]:
    """``v1.1/`` with S2Hand, LabelHand and the metadata geojson; other chips are rolled copies of Spain's."""
    hand = root / "v1.1" / "data" / "flood_events" / "HandLabeled"
    (hand / "S2Hand").mkdir(parents=True)
    (hand / "LabelHand").mkdir(parents=True)
    shutil.copy(S1F11_METADATA, root / "v1.1" / "Sen1Floods11_Metadata.geojson")
    with rasterio.open(S2_CHIP) as src:
        image, image_profile = src.read(), src.profile
    with rasterio.open(S2_LABEL) as src:
        label, label_profile = src.read(), src.profile
    for index, chip in enumerate(c for ids in S1F11_SPLITS.values() for c in ids):
        if chip == "Spain_7370579":
            shutil.copy(S2_CHIP, hand / "S2Hand" / f"{chip}_S2Hand.tif")
            shutil.copy(S2_LABEL, hand / "LabelHand" / f"{chip}_LabelHand.tif")
            continue
        with rasterio.open(hand / "S2Hand" / f"{chip}_S2Hand.tif", "w", **image_profile) as dst:
            dst.write(np.roll(image, 11 * index, axis=2))
            dst.descriptions = tuple(
                f"B{b}" for b in ("1", "2", "3", "4", "5", "6", "7", "8", "8A", "9", "10", "11", "12")
            )
        with rasterio.open(hand / "LabelHand" / f"{chip}_LabelHand.tif", "w", **label_profile) as dst:
            dst.write(np.roll(label, 11 * index, axis=2))
    names = {
        "train": "train_data.txt",
        "val": "valid_data.txt",
        "test": "test_data.txt",
        "bolivia": "bolivia_data.txt",
    }
    return root, write_lists(
        root.parent / "sen1floods11_splits", {names[s]: ids for s, ids in S1F11_SPLITS.items()}
    )


# --- GEO-Bench ----------------------------------------------------------------------------------
GEOBENCH_BAND_NAMES = (
    "01 - Coastal aerosol", "02 - Blue", "03 - Green", "04 - Red", "05 - Vegetation Red Edge",
    "06 - Vegetation Red Edge", "07 - Vegetation Red Edge", "08 - NIR", "08A - Vegetation Red Edge",
    "09 - Water vapour", "11 - SWIR", "12 - SWIR",
)  # fmt: skip
# Sentinel-2 band numbers of the Spain chip (1-based, B10 cirrus skipped) in GEO-Bench's order.
GEOBENCH_FROM_S2 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13)
CASHEW_DATE = "2019-11-15"  # one of the task's 25 dates


def geobench_sample(index: int) -> tuple[np.ndarray, np.ndarray]:
    """A 256 x 256 crop of the Spain chip's 12 bands and stripes of labels 0-9."""
    with rasterio.open(S2_CHIP) as src:
        bands = src.read(list(GEOBENCH_FROM_S2), window=((32 * index, 32 * index + 256), (0, 256)))
    labels = np.repeat(np.arange(256)[None] // 26, 256, axis=0)
    return bands, labels


def write_geobench(root: Path, task: str) -> tuple[Path, Path]:
    """``<task>/`` with one HDF5 per sample and ``default_partition.json`` (GEO-Bench v1.0 layout)."""
    folder = root / task
    folder.mkdir(parents=True)
    cashew = task == "m-cashew-plant"
    if cashew:
        names = {
            "train": ["sample_0", "sample_1", "sample_2"],
            "valid": ["sample_3", "sample_4"],
            "test": ["sample_5", "sample_6"],
        }
    else:
        stem = "ref_south_africa_crops_competition_v1_train_labels_"
        names = {
            "train": [f"{stem}0042_{i}" for i in range(3)],
            "valid": [f"{stem}0107_{i}" for i in range(2)],
            "test": [f"{stem}0311_{i}" for i in range(2)],
        }
    for index, name in enumerate(n for ids in names.values() for n in ids):
        bands, labels = geobench_sample(index)
        suffix = f"_{CASHEW_DATE}" if cashew else ""
        with h5py.File(folder / f"{name}.hdf5", "w") as h5:
            for band_name, band in zip(GEOBENCH_BAND_NAMES, bands, strict=True):
                # SA crop type values are small (means 13-84): the chip's scaled down.
                h5.create_dataset(
                    band_name + suffix,
                    data=band.astype(np.float32) if cashew else (band // 50).astype(np.int16),
                )
            h5.create_dataset(
                "Cloud Probability" + suffix, data=np.zeros((256, 256), np.float32 if cashew else np.int16)
            )
            h5.create_dataset(
                "label", data=(labels % 7).astype(np.int64) if cashew else labels.astype(np.int16)
            )
    (folder / "default_partition.json").write_text(json.dumps(names, indent=2))
    own = root.parent / f"{task}_splits"
    own.mkdir()
    (own / "default_partition.json").write_text(json.dumps({k: v[:1] for k, v in names.items()}, indent=2))
    return root, own


# --- reBEN --------------------------------------------------------------------------------------
REBEN_SPLITS = {
    "train": [
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_04_62",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_04_69",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_06_55",
    ],
    "val": ["S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_15_55", REBEN_PATCH],
    "test": [
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_25_49",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T34VER_33_60",
    ],
    "ood": [
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_28_55",
        "S2A_MSIL2A_20170617T113321_N9999_R080_T29UPU_24_24",
    ],
    "austria": [REBEN_MAP_PATCH, "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_28_55"],
    "ireland": [
        "S2A_MSIL2A_20170617T113321_N9999_R080_T29UPU_24_24",
        "S2A_MSIL2A_20170617T113321_N9999_R080_T29UPU_23_23",
    ],
}
REBEN_LIST_FILES = {
    "train": "train.txt",
    "val": "val.txt",
    "test": "test.txt",
    "ood": "ood.txt",
    "austria": "Austria.txt",
    "ireland": "Ireland.txt",
}
# Upper-left corner of each Sentinel-2 tile in its UTM zone (T33UUP and T29UPU as in the real
# patches; T34VER made up) and the zone's EPSG code.
_TILES = {
    "T33UUP": (300000, 5400000, 32633),
    "T29UPU": (600000, 5900040, 32629),
    "T34VER": (500000, 7000000, 32634),
}
# A CORINE code for each BigEarthNet class the fixture's metadata names.
CLC_OF = {
    "Arable land": 211, "Pastures": 231, "Broad-leaved forest": 311, "Coniferous forest": 312,
    "Mixed forest": 313,
    "Inland waters": 512, "Marine waters": 523, "Transitional woodland, shrub": 324,
    "Land principally occupied by agriculture, with significant areas of natural vegetation": 243,
}  # fmt: skip


def patch_grid(patch: str) -> tuple[Affine, CRS]:
    """The 10 m grid of a patch: its tile's corner plus 1200 m per column and row index."""
    tile, col, row = patch.split("_")[-3:]
    x0, y0, epsg = _TILES[tile]
    return Affine(10, 0, x0 + 1200 * int(col), 0, -10, y0 - 1200 * int(row)), CRS.from_epsg(epsg)


def write_reben(root: Path, labels: dict[str, list[str]]) -> tuple[Path, Path]:
    """BigEarthNet-S2 band files, Reference_Maps and metadata.parquet; no S2_merged (prepare makes it).

    Band files of every patch are the real patch's, offset by 10 x its index and moved to the
    patch's grid; reference maps are stripes of the CORINE codes of the patch's labels with a 3 x 3
    block of 999 (unlabelled), except the real one.
    """
    patches = sorted({p for ids in REBEN_SPLITS.values() for p in ids})
    for index, patch in enumerate(patches):
        folder = root / "BigEarthNet-S2" / patch[:-6] / patch
        folder.mkdir(parents=True)
        transform, crs = patch_grid(patch)
        for band in REBEN_BANDS:
            source = REBEN / f"{REBEN_PATCH}_{band}.tif"
            if patch == REBEN_PATCH:
                shutil.copy(source, folder / f"{patch}_{band}.tif")
                continue
            with rasterio.open(source) as src:
                profile = src.profile | {"crs": crs, "transform": transform @ Affine.scale(src.res[0] / 10)}
                data = src.read() + 10 * index
            with rasterio.open(folder / f"{patch}_{band}.tif", "w", **profile) as dst:
                dst.write(data)
        maps = root / "Reference_Maps" / patch[:-6] / patch
        maps.mkdir(parents=True)
        if patch == REBEN_MAP_PATCH:
            shutil.copy(REBEN / f"{patch}_reference_map.tif", maps / f"{patch}_reference_map.tif")
            continue
        codes = np.array([CLC_OF[name] for name in labels[patch]], dtype=np.uint16)
        reference = codes[np.arange(120)[None, :].repeat(120, 0) * len(codes) // 120]
        reference[:3, :3] = 999
        profile = {
            "driver": "GTiff", "height": 120, "width": 120, "count": 1, "dtype": "uint16", "nodata": 0,
            "crs": crs, "transform": transform, "compress": "deflate", "predictor": 2,
        }  # fmt: skip
        with rasterio.open(maps / f"{patch}_reference_map.tif", "w", **profile) as dst:
            dst.write(reference, 1)
    shutil.copy(REBEN / "metadata.parquet", root / "metadata.parquet")
    return root, write_lists(
        root.parent / "reben_splits", {REBEN_LIST_FILES[s]: ids for s, ids in REBEN_SPLITS.items()}
    )
