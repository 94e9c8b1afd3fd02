"""HLS Burn Scars (Phillips et al. 2023, doi:10.57967/hf/0956): 804 HLS chips with burn-scar masks.

Published on the Hugging Face Hub as ``ibm-nasa-geospatial/hls_burn_scars``: ``hls_burn_scars.tar.gz``
unpacks to ``training/`` and ``validation/``, each holding pairs of
``subsetted_512x512_HLS.S30.<tile>.<YYYYDDD>.v1.4_merged.tif`` (6 bands, float32 reflectance, 30 m)
and ``….v1.4.mask.tif`` (int16: 1 burn scar, 0 not burned, nodata -1). The paper merges both folders
and re-splits them 524/160/120 (arXiv 2504.17397, section 4; lists in ``splits/burn_scars``); chips
are found in either folder, or in the root itself when it is one merged folder.
"""

import re
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from geoadapters import InputSpec
from training.datasets.base import IGNORE_INDEX, GeoDataset, HubArchive, RawSample
from training.datasets.raster import centre_latlon, read_bands, read_labels
from training.datasets.registry import register_dataset
from training.datasets.splits import SPLITS_DIR
from training.errors import DatasetError

__all__ = ["CLASSES", "SPEC", "BurnScars"]

# Bands, scale and statistics of the paper's datamodule (IBM/peft-geofm @ 5fe258d,
# src/peft_geofm/datamodules/burn_scars.py): the tifs hold reflectance, so the scale is 1.
SPEC = InputSpec(
    bands=("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"),
    mean=(0.0525628887, 0.0779808834, 0.0946640745, 0.2139334530, 0.2355762571, 0.1710367799),
    std=(0.0308036711, 0.0375606678, 0.0549106970, 0.0701380521, 0.0910611823, 0.0835518017),
    units="HLS surface reflectance",
    scale=1.0,
    value_range=(0, 1),
    gsd=30,
)
CLASSES = ("Not burned", "Burn scar")

_ID = re.compile(r"(T[0-9A-Z]{5})\.(\d{7})\.v1")


class BurnScars(GeoDataset):
    """HLS Burn Scars in the Hugging Face layout, with the paper's splits.

    Image nodata and NaN become 0; mask nodata (-1) is ignored. The date is the file name's
    year and day of year at 12:00; the location is the centre pixel reprojected from UTM.
    """

    name = "burn_scars"
    chip_size = 512
    spec = SPEC
    classes = CLASSES
    split_files: ClassVar[dict[str, str]] = {
        "train": "train_data.txt",
        "val": "val_data.txt",
        "test": "test_data.txt",
    }
    published_counts: ClassVar[dict[str, int]] = {"train": 524, "val": 160, "test": 120}
    shipped_splits = SPLITS_DIR / "burn_scars"
    # The paper's README says its split keeps samples of different splits from overlapping.
    footprints_disjoint = True
    source = (
        "Get it with `python -m training download burn_scars --root DIR` (Hugging Face dataset "
        "ibm-nasa-geospatial/hls_burn_scars, CC-BY-4.0), or unpack its hls_burn_scars.tar.gz into DIR "
        "so that DIR holds training/ and validation/."
    )
    hub = HubArchive(
        "ibm-nasa-geospatial/hls_burn_scars", "hls_burn_scars.tar.gz", ("training", "validation")
    )

    @property
    def _folders(self) -> tuple[Path, ...]:
        return (self.root / "training", self.root / "validation", self.root)

    def open_root(self) -> None:
        """Raise unless the root holds ``training/``, ``validation/`` or merged chips."""
        if not any(folder.is_dir() for folder in self._folders[:2]) and not any(
            self.root.glob("*_merged.tif")
        ):
            raise DatasetError(
                f"{self.root} has no training/ or validation/ folder of HLS Burn Scars. {self.source}"
            )

    def _find(self, name: str) -> Path:
        for folder in self._folders:
            if (folder / name).is_file():
                return folder / name
        raise DatasetError(f"{name}: file is missing from {self.root}/training, validation and the root")

    def files(self, sample_id: str) -> list[Path]:
        """The chip's image and mask.

        Raises:
            DatasetError: The id is malformed or a file is in none of the folders.
        """
        match = _ID.fullmatch(sample_id)
        if match is None:
            raise DatasetError(f"{sample_id!r} is not a burn scars chip id such as T10SEJ.2018185.v1")
        stem = f"subsetted_512x512_HLS.S30.{match[1]}.{match[2]}.v1.4"
        return [self._find(f"{stem}_merged.tif"), self._find(f"{stem}.mask.tif")]

    def read(self, sample_id: str) -> RawSample:
        """Read one chip."""
        image_path, mask_path = self.files(sample_id)
        image = read_bands(image_path, [i + 1 for i in self.band_index])
        mask = read_labels(mask_path, nodata_label=IGNORE_INDEX)
        date = datetime.strptime(_ID.fullmatch(sample_id)[2], "%Y%j").replace(hour=12)  # type: ignore[index]
        return RawSample(image.data, mask=mask.data[0], date=date, latlon=centre_latlon(image))


register_dataset(BurnScars)
