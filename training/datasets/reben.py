"""reBEN / BigEarthNet v2.0 (Clasen et al., IGARSS 2025, arXiv 2407.03653) as the paper's reBEN 7k.

Published at bigearth.net: ``BigEarthNet-S2/<tile>/<patch>/<patch>_<band>.tif`` (one uint16 file
per band, 10, 20 or 60 m), ``Reference_Maps/<tile>/<patch>/<patch>_reference_map.tif`` (CORINE Land
Cover 2018 level-3 codes, 10 m, nodata 0) and ``metadata.parquet`` (``patch_id``, ``labels``,
``split``, ``country``...). The paper merges the 12 bands of each patch onto the 10 m grid
(``python -m training prepare reben`` writes ``S2_merged/<patch>.tif``), maps the codes to the 19
BigEarthNet classes with unlabelled codes ignored, reflect-pads patches from 120 to 128 pixels, and
tests on a same-distribution set, an out-of-distribution set and all of Austria and Ireland
(``splits/reBEN_7k``). Labels are pixel maps (segmentation) or, with ``label="classification"``,
the patch's multi-hot labels from the metadata.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geoadapters import InputSpec
from training.datasets.base import IGNORE_INDEX, GeoDataset, RawSample, Transform
from training.datasets.metadata import MetadataKind
from training.datasets.raster import centre_latlon, read_bands, read_labels
from training.datasets.registry import register_dataset
from training.datasets.splits import SPLITS_DIR
from training.errors import DatasetError

__all__ = ["BAND_FILES", "CLASSES", "SPEC", "ReBEN", "merged_path"]

# BigEarthNet-S2 band files in the merged order (no B10).
BAND_FILES = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")

# Statistics the paper takes from ConfigILM's BENv2 "120_nearest" values (IBM/peft-geofm @ 5fe258d,
# src/peft_geofm/datamodules/reben.py), on L2A digital numbers.
SPEC = InputSpec(
    bands=BAND_FILES,
    mean=(
        361.0767822265625, 438.3720703125, 614.0556640625, 588.4096069335938, 942.8433227539062,
        1769.931640625, 2049.551513671875, 2193.2919921875, 2235.556640625, 2241.455322265625,
        1568.226806640625, 997.7324829101562,
    ),
    std=(
        575.0687255859375, 607.02685546875, 603.2968139648438, 684.56884765625, 738.4326782226562,
        1100.4560546875, 1275.805419921875, 1369.3717041015625, 1356.5440673828125, 1316.393310546875,
        1070.1612548828125, 813.5276489257812,
    ),
    units="Sentinel-2 L2A digital numbers (reflectance x 10000)",
    scale=1.0,
    value_range=(0, 10000),
    nodata=0,
    gsd=10,
)  # fmt: skip
# The 19 BigEarthNet classes, alphabetical as in metadata.parquet and the paper.
CLASSES = (
    "Agro-forestry areas",
    "Arable land",
    "Beaches, dunes, sands",
    "Broad-leaved forest",
    "Coastal wetlands",
    "Complex cultivation patterns",
    "Coniferous forest",
    "Industrial or commercial units",
    "Inland waters",
    "Inland wetlands",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Marine waters",
    "Mixed forest",
    "Moors, heathland and sclerophyllous vegetation",
    "Natural grassland and sparsely vegetated areas",
    "Pastures",
    "Permanent crops",
    "Transitional woodland, shrub",
    "Urban fabric",
)
# CORINE level-3 code -> BigEarthNet-19 class; None = unlabelled, ignored (the paper's
# ReBEN.mask_val_to_label, which follows the BigEarthNet-19 nomenclature).
_CLC: dict[int, str | None] = {
    111: "Urban fabric", 112: "Urban fabric", 121: "Industrial or commercial units",
    122: None, 123: None, 124: None, 131: None, 132: None, 133: None, 141: None, 142: None,
    211: "Arable land", 212: "Arable land", 213: "Arable land",
    221: "Permanent crops", 222: "Permanent crops", 223: "Permanent crops", 231: "Pastures",
    241: "Permanent crops", 242: "Complex cultivation patterns",
    243: "Land principally occupied by agriculture, with significant areas of natural vegetation",
    244: "Agro-forestry areas",
    311: "Broad-leaved forest", 312: "Coniferous forest", 313: "Mixed forest",
    321: "Natural grassland and sparsely vegetated areas",
    322: "Moors, heathland and sclerophyllous vegetation",
    323: "Moors, heathland and sclerophyllous vegetation", 324: "Transitional woodland, shrub",
    331: "Beaches, dunes, sands", 332: None, 333: "Natural grassland and sparsely vegetated areas",
    334: None, 335: None,
    411: "Inland wetlands", 412: "Inland wetlands",
    421: "Coastal wetlands", 422: "Coastal wetlands", 423: None,
    511: "Inland waters", 512: "Inland waters",
    521: "Marine waters", 522: "Marine waters", 523: "Marine waters",
    999: None,
}  # fmt: skip
_LOOKUP = np.full(1000, -2, dtype=np.int64)  # -2: not a code of the table
_LOOKUP[list(_CLC)] = [CLASSES.index(c) if c else IGNORE_INDEX for c in _CLC.values()]
_LOOKUP[0] = IGNORE_INDEX  # the reference maps' nodata

_EXAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"
_PATCH = re.compile(r"S2[AB]_MSIL2A_(\d{8}T\d{6})_N9999_R\d{3}_T[0-9A-Z]{5}_\d{2}_\d{2}")


def merged_path(root: Path, patch: str) -> Path:
    """Where ``prepare`` writes a patch's merged bands and the dataset reads them."""
    return root / "S2_merged" / f"{patch}.tif"


class ReBEN(GeoDataset):
    """reBEN 7k: merged Sentinel-2 patches with CORINE maps or multi-label targets.

    The date and time are the file name's; the location is the centre pixel reprojected from UTM.
    """

    name = "reben"
    chip_size = 120
    spec = SPEC
    classes = CLASSES
    split_files: ClassVar[dict[str, str]] = {
        "train": "train.txt",
        "val": "val.txt",
        "test": "test.txt",
        "ood": "ood.txt",
        "austria": "Austria.txt",
        "ireland": "Ireland.txt",
    }
    test_splits = ("test", "ood", "austria", "ireland")
    published_counts: ClassVar[dict[str, int]] = {
        "train": 4690,
        "val": 946,
        "test": 945,
        "ood": 807,
        "austria": 8176,
        "ireland": 13157,
    }
    # The out-of-distribution set is drawn from the Austria and Ireland test sets.
    overlapping_splits = frozenset({frozenset({"ood", "austria"}), frozenset({"ood", "ireland"})})
    pad_to = 128
    shipped_splits = SPLITS_DIR / "reBEN_7k"
    source = (
        "It is not on the Hugging Face Hub: download BigEarthNet-S2.tar.zst, Reference_Maps.tar.zst and "
        "metadata.parquet from https://bigearth.net (reBEN, CDLA-Permissive-1.0), unpack them into DIR "
        "(DIR/BigEarthNet-S2, DIR/Reference_Maps, DIR/metadata.parquet), then merge the bands with "
        "`python -m training prepare reben --root DIR`."
    )

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        label: Literal["segmentation", "classification"] = "segmentation",
        bands: Sequence[str] | None = None,
        metadata: MetadataKind = "no_metadata",
        splits: str | Path | None = None,
        transform: Transform | None = None,
    ) -> None:
        """Open one split; `label` chooses pixel maps or multi-hot patch labels (see `GeoDataset`)."""
        if label not in ("segmentation", "classification"):
            raise DatasetError(f"label must be segmentation or classification, not {label!r}")
        self.label = label
        super().__init__(root, split, bands=bands, metadata=metadata, splits=splits, transform=transform)
        self._labels = self._read_labels() if label == "classification" else {}

    def open_root(self) -> None:
        """Raise unless the root holds the merged bands (or the band files to merge) and the maps."""
        if not (self.root / "S2_merged").is_dir():
            hint = (
                "run `python -m training prepare reben --root DIR` first"
                if (self.root / "BigEarthNet-S2").is_dir()
                else self.source
            )
            raise DatasetError(f"{self.root / 'S2_merged'} is missing: {hint}")
        needed = self.root / ("metadata.parquet" if self.label == "classification" else "Reference_Maps")
        if not needed.exists():
            raise DatasetError(f"{needed} is missing: {self.root} is not a reBEN root. {self.source}")

    def _read_labels(self) -> dict[str, list[str]]:
        path = self.root / "metadata.parquet"
        try:
            table = pq.read_table(path, columns=["patch_id", "labels"])
        except (OSError, pa.ArrowException) as err:
            raise DatasetError(f"{path}: not a readable reBEN metadata parquet ({err})") from err
        table = table.filter(pc.is_in(table["patch_id"], value_set=pa.array(self.ids)))
        return dict(zip(table["patch_id"].to_pylist(), table["labels"].to_pylist(), strict=True))

    def files(self, sample_id: str) -> list[Path]:
        """The patch's merged bands and its reference map."""
        tile = sample_id[:-6]
        return [
            merged_path(self.root, sample_id),
            self.root / "Reference_Maps" / tile / sample_id / f"{sample_id}_reference_map.tif",
        ]

    def read(self, sample_id: str) -> RawSample:
        """Read one patch."""
        match = _PATCH.fullmatch(sample_id)
        if match is None:
            raise DatasetError(f"{sample_id!r} is not a reBEN patch id such as {_EXAMPLE}")
        image_path, map_path = self.files(sample_id)
        image = read_bands(image_path, [i + 1 for i in self.band_index])
        date = datetime.strptime(match[1], "%Y%m%dT%H%M%S")
        raw = RawSample(image.data, date=date, latlon=centre_latlon(image))
        if self.label == "classification":
            if sample_id not in self._labels:
                raise DatasetError(f"{self.root / 'metadata.parquet'}: no row for patch {sample_id}")
            names = self._labels[sample_id]
            unknown = sorted(set(names) - set(CLASSES))
            if unknown:
                raise DatasetError(
                    f"{self.root / 'metadata.parquet'}: {sample_id} has unknown labels {unknown}"
                )
            return RawSample(
                raw.image, label=np.isin(CLASSES, names).astype(np.float32), date=date, latlon=raw.latlon
            )
        codes = read_labels(map_path, nodata_label=0).data[0]
        if codes.min() < 0 or codes.max() >= len(_LOOKUP) or (_LOOKUP[codes] == -2).any():
            bad = sorted(int(c) for c in np.unique(codes) if not 0 <= c < len(_LOOKUP) or _LOOKUP[c] == -2)
            raise DatasetError(f"{map_path}: values {bad[:5]} are not CORINE level-3 codes")
        return RawSample(raw.image, mask=_LOOKUP[codes], date=date, latlon=raw.latlon)


register_dataset(ReBEN)
