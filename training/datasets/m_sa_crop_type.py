"""GEO-Bench m-SA-crop-type: crop types in the Western Cape, South Africa, 256 x 256 Sentinel-2 chips.

From the Radiant MLHub "ref_south_africa_crops_competition_v1" data. Band names carry no date, and
the files have no location the paper uses, so the samples carry no time or location metadata.
Bands are int16; labels are int16, 0 = "No Data", which the paper keeps as a class.
"""

from geoadapters import InputSpec
from training.datasets.base import HubArchive
from training.datasets.geobench import GeoBenchDataset
from training.datasets.registry import register_dataset

__all__ = ["CLASSES", "SPEC", "MSACropType"]

# Statistics of the paper's datamodule (IBM/peft-geofm @ 5fe258d,
# src/peft_geofm/datamodules/m_sa_crop_type.py), on raw values.
SPEC = InputSpec(
    bands=(
        "COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3",
        "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "SWIR_1", "SWIR_2",
    ),
    mean=(
        12.739611, 16.526744, 26.636417, 36.696639, 46.388679, 58.281453, 63.575819, 68.1836,
        69.142591, 69.904566, 83.626811, 65.767679,
    ),
    std=(
        7.492811526301659, 9.329547939662671, 12.674537246073758, 19.421922023931593,
        19.487411106531287, 19.959174612412983, 21.53805760692545, 23.05077775347288,
        22.329695761624677, 21.877766438821954, 28.14418826277069, 27.2346215312965,
    ),
    units="Sentinel-2 digital numbers as stored by GEO-Bench",
    scale=1.0,
    value_range=(0, 10000),
    gsd=10,
)  # fmt: skip
# Class names of the source data, as torchgeo's CropTypeSouthAfrica documents them.
CLASSES = (
    "No Data",
    "Lucerne/Medics",
    "Planted pastures (perennial)",
    "Fallow",
    "Wine grapes",
    "Weeds",
    "Small grain grazing",
    "Wheat",
    "Canola",
    "Rooibos",
)


class MSACropType(GeoBenchDataset):
    """GEO-Bench m-SA-crop-type (folder ``m-SA-crop-type``), default partition."""

    name = "m_sa_crop_type"
    chip_size = 256
    folder = "m-SA-crop-type"
    spec = SPEC
    classes = CLASSES
    source = (
        "Get it with `python -m training download m_sa_crop_type --root DIR` (Hugging Face dataset "
        "recursix/geo-bench-1.0, segmentation_v1.0/m-SA-crop-type.zip, unpacked to DIR/m-SA-crop-type)."
    )
    hub = HubArchive("recursix/geo-bench-1.0", "segmentation_v1.0/m-SA-crop-type.zip", ("m-SA-crop-type",))


register_dataset(MSACropType)
