"""GEO-Bench m-cashew-plantation: smallholder cashew plantations in Benin, 256 x 256 Sentinel-2 chips.

From "Smallholder Cashew Plantations in Benin" (Radiant MLHub, doi:10.34911/rdnt.hfv20i): each of
its chips appears once per low-cloud date, the date appended to every band name. Band values are
raw digital numbers (float32); labels are int64, 0 = "no data", which the paper keeps as a class.
"""

from geoadapters import InputSpec
from training.datasets.base import HubArchive
from training.datasets.geobench import GeoBenchDataset
from training.datasets.registry import register_dataset

__all__ = ["CLASSES", "SPEC", "MCashewPlantation"]

# Statistics of the paper's datamodule (IBM/peft-geofm @ 5fe258d,
# src/peft_geofm/datamodules/m_cashew_plantation.py), on raw values.
SPEC = InputSpec(
    bands=(
        "COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3",
        "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "SWIR_1", "SWIR_2",
    ),
    mean=(
        520.1185302734375, 634.7583618164062, 892.461181640625, 880.7075805664062, 1380.6409912109375,
        2233.432373046875, 2549.379638671875, 2643.248046875, 2643.531982421875, 2852.87451171875,
        2463.933349609375, 1600.9207763671875,
    ),
    std=(
        204.2023468017578, 227.25344848632812, 222.32545471191406, 350.47235107421875, 280.6436767578125,
        373.7521057128906, 449.9236145019531, 414.6498107910156, 415.1019592285156, 413.8980407714844,
        494.97430419921875, 514.4229736328125,
    ),
    units="Sentinel-2 L2A digital numbers",
    scale=1.0,
    value_range=(0, 10000),
    gsd=10,
)  # fmt: skip
# GEO-Bench's label names for this task (geobench's benin_smallholder_cashews converter).
CLASSES = (
    "no data",
    "well-managed plantation",
    "poorly-managed plantation",
    "non-plantation",
    "residential",
    "background",
    "uncertain",
)


class MCashewPlantation(GeoBenchDataset):
    """GEO-Bench m-cashew-plantation (folder ``m-cashew-plant``), default partition."""

    name = "m_cashew_plantation"
    chip_size = 256
    folder = "m-cashew-plant"
    spec = SPEC
    classes = CLASSES
    source = (
        "Get it with `python -m training download m_cashew_plantation --root DIR` (Hugging Face dataset "
        "recursix/geo-bench-1.0, segmentation_v1.0/m-cashew-plant.zip, unpacked to DIR/m-cashew-plant)."
    )
    hub = HubArchive("recursix/geo-bench-1.0", "segmentation_v1.0/m-cashew-plant.zip", ("m-cashew-plant",))


register_dataset(MCashewPlantation)
