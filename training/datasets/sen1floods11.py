"""Sen1Floods11 v1.1 (Bonafilia et al., CVPR Workshops 2020): hand-labelled Sentinel-2 flood chips.

Published in the Google Cloud bucket ``gs://sen1floods11`` (github.com/cloudtostreet/Sen1Floods11):
``v1.1/data/flood_events/HandLabeled/S2Hand/<event>_<chip>_S2Hand.tif`` (13 bands B1…B12 with B8A,
int16 top-of-atmosphere reflectance x 10000, nodata 0, EPSG:4326), ``LabelHand/…_LabelHand.tif``
(int16: 1 water, 0 not water, -1 no data or cloud) and ``v1.1/Sen1Floods11_Metadata.geojson`` (one
feature per event with its Sentinel-2 date). The paper trains on the standard hand-labelled splits
and tests on the same events and on Bolivia, held out (``splits/sen1floods11``).
"""

import json
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from geoadapters import InputSpec
from training.datasets.base import IGNORE_INDEX, GeoDataset, RawSample
from training.datasets.raster import centre_latlon, read_bands, read_labels
from training.datasets.registry import register_dataset
from training.datasets.splits import SPLITS_DIR
from training.errors import DatasetError

__all__ = ["CLASSES", "SPEC", "Sen1Floods11"]

# Statistics of the paper's datamodule (IBM/peft-geofm @ 5fe258d,
# src/peft_geofm/datamodules/sen1floods11.py), on digital numbers x 0.0001.
SPEC = InputSpec(
    bands=(
        "COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3",
        "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "CIRRUS", "SWIR_1", "SWIR_2",
    ),
    mean=(
        0.16450718, 0.1412956, 0.13795798, 0.12353792, 0.1481099, 0.23991728, 0.28587557,
        0.26345379, 0.30902815, 0.04911151, 0.00652506, 0.2044958, 0.11912015,
    ),
    std=(
        0.06977374, 0.07406382, 0.07370365, 0.08692279, 0.07778555, 0.09105416, 0.10690993,
        0.10096586, 0.11798815, 0.03380113, 0.01463465, 0.09772074, 0.07659938,
    ),
    units="Sentinel-2 L1C top-of-atmosphere reflectance",
    scale=0.0001,
    value_range=(0, 10000),
    nodata=0,
    gsd=10,
)  # fmt: skip
CLASSES = ("Not water", "Water")

_HAND = Path("v1.1/data/flood_events/HandLabeled")
_METADATA = Path("v1.1/Sen1Floods11_Metadata.geojson")
# The metadata names the Mekong event after its country.
_EVENT_LOCATION = {"Mekong": "Cambodia"}


class Sen1Floods11(GeoDataset):
    """Sen1Floods11 v1.1, hand-labelled chips, with the paper's splits and the Bolivia test set.

    Images are scaled by 0.0001; nodata and NaN become 0; label -1 is ignored. The date is the
    event's Sentinel-2 date from the metadata geojson at 12:00; the location is the centre pixel.
    """

    name = "sen1floods11"
    chip_size = 512
    spec = SPEC
    classes = CLASSES
    split_files: ClassVar[dict[str, str]] = {
        "train": "train_data.txt",
        "val": "valid_data.txt",
        "test": "test_data.txt",
        "bolivia": "bolivia_data.txt",
    }
    test_splits = ("test", "bolivia")
    published_counts: ClassVar[dict[str, int]] = {"train": 252, "val": 89, "test": 90, "bolivia": 15}
    shipped_splits = SPLITS_DIR / "sen1floods11"
    source = (
        "It is not on the Hugging Face Hub: copy v1.1 from the Google Cloud bucket with "
        "`gsutil -m rsync -r gs://sen1floods11/v1.1 DIR/v1.1` (at least data/flood_events/HandLabeled/"
        "S2Hand, HandLabeled/LabelHand and Sen1Floods11_Metadata.geojson; "
        "see github.com/cloudtostreet/Sen1Floods11)."
    )

    def open_root(self) -> None:
        """Raise unless the root holds ``v1.1/`` with the hand-labelled chips and the metadata."""
        for path in (self.root / _HAND / "S2Hand", self.root / _HAND / "LabelHand", self.root / _METADATA):
            if not path.exists():
                raise DatasetError(
                    f"{path} is missing: {self.root} is not a Sen1Floods11 v1.1 root. {self.source}"
                )
        self._dates = _event_dates(self.root / _METADATA)

    def files(self, sample_id: str) -> list[Path]:
        """The chip's Sentinel-2 image and hand label."""
        return [
            self.root / _HAND / "S2Hand" / f"{sample_id}_S2Hand.tif",
            self.root / _HAND / "LabelHand" / f"{sample_id}_LabelHand.tif",
        ]

    def read(self, sample_id: str) -> RawSample:
        """Read one chip."""
        image_path, label_path = self.files(sample_id)
        image = read_bands(image_path, [i + 1 for i in self.band_index])
        labels = read_labels(label_path, nodata_label=IGNORE_INDEX)
        event = sample_id.split("_")[0]
        location = _EVENT_LOCATION.get(event, event)
        if location not in self._dates:
            raise DatasetError(f"{self.root / _METADATA}: no event {location!r} for chip {sample_id}")
        return RawSample(
            image.data, mask=labels.data[0], date=self._dates[location], latlon=centre_latlon(image)
        )


def _event_dates(path: Path) -> dict[str, datetime]:
    """Sentinel-2 date of each event location (``s2_date``, ``YYYY/MM/DD``), at 12:00."""
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        return {
            f["properties"]["location"]: datetime.strptime(f["properties"]["s2_date"], "%Y/%m/%d").replace(
                hour=12
            )
            for f in features
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: not the Sen1Floods11 metadata geojson ({err})") from err


register_dataset(Sen1Floods11)
