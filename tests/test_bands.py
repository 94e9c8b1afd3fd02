import pytest

from geoadapters.bands import band_indices, canonical, canonical_bands, wavelength
from geoadapters.errors import BandError


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("B8A", "NIR_NARROW"),
        ("b08a", "NIR_NARROW"),
        ("B2", "BLUE"),
        ("B02", "BLUE"),
        ("B10", "CIRRUS"),
        ("swir16", "SWIR_1"),
        ("SWIR2", "SWIR_2"),
        ("nir08", "NIR_NARROW"),
        ("nir", "NIR_BROAD"),
        ("red edge 1", "RED_EDGE_1"),
        ("Coastal_Aerosol", "COASTAL_AEROSOL"),
        ("vv", "VV"),
    ],
)
def test_spellings_resolve(spelling, name):
    assert canonical(spelling) == name


def test_unknown_band_suggests():
    with pytest.raises(BandError, match="did you mean GREEN"):
        canonical("GREN")
    with pytest.raises(BandError, match="unknown band 'B13'"):
        canonical("B13")


def test_duplicates_and_missing_bands_are_errors():
    with pytest.raises(BandError, match="BLUE more than once"):
        canonical_bands(["B02", "blue"])
    with pytest.raises(BandError, match=r"missing band.*NIR_NARROW"):
        band_indices(["B02", "B03", "B04", "B08"], ["BLUE", "NIR_NARROW"])
    assert band_indices(["B1", "B2", "B3", "B4", "B8A"], ["B8A", "RED"]) == [4, 3]


def test_wavelengths_are_ordered_through_the_optical_range():
    optical = [
        "COASTAL_AEROSOL",
        "BLUE",
        "GREEN",
        "RED",
        "RED_EDGE_1",
        "RED_EDGE_2",
        "RED_EDGE_3",
        "NIR_BROAD",
        "NIR_NARROW",
        "WATER_VAPOR",
        "CIRRUS",
        "SWIR_1",
        "SWIR_2",
    ]
    values = [wavelength(b) for b in optical]
    assert values == sorted(values) and len(set(values)) == len(values)
