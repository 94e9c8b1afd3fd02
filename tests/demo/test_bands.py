"""The band mapping the demo proposes, and its messages: from descriptions, sensor orders, file order."""

import pytest

from demo.bands import FileBands, mapped_bands, propose
from demo.messages import message
from geoadapters.bands import BANDS, SENSOR_ORDERS
from geoadapters.errors import BandError

HLS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")


def _file(descriptions):
    return FileBands("scene.tif", tuple(descriptions), "uint16")


@pytest.mark.parametrize(
    ("descriptions", "numbers", "basis"),
    [
        ((None,) * 12, (2, 3, 4, 9, 11, 12), "the Sentinel-2 L2A band order"),
        ((None,) * 13, (2, 3, 4, 9, 12, 13), "the Sentinel-2 L1C band order"),
        ((None,) * 10, (2, 3, 4, 5, 6, 7), "the HLS L30 band order"),
        ((None,) * 6, (1, 2, 3, 4, 5, 6), "the HLS (Prithvi's six bands) band order"),
        ((None,) * 4, (1, 2, 3, 4, None, None), "the blue, green, red, NIR band order"),  # B08 for B8A
        ((None,) * 3, (3, 2, 1, None, None, None), "the RGB band order"),
        ((None,) * 5, (None,) * 6, "nothing: pick each band"),
        (("swir16", None, "B02", "B03", "B04"), (3, 4, 5, None, 1, None), "the band descriptions"),
    ],
)
def test_proposals_follow_descriptions_then_sensor_orders(descriptions, numbers, basis):
    proposal = propose(_file(descriptions), HLS)
    assert (proposal.numbers, proposal.basis, proposal.automatic) == (numbers, basis, False)
    assert [label for label, _ in proposal.choices][:2] == [
        f"1: {descriptions[0]}" if descriptions[0] else "band 1",
        f"2: {descriptions[1]}" if descriptions[1] else "band 2",
    ]


def test_sensor_orders_are_as_long_as_their_band_count_and_known_bands():
    for count, (_, order) in SENSOR_ORDERS.items():
        assert len(order) == count and set(order) <= set(BANDS)


def test_described_bands_need_no_mapping():
    proposal = propose(_file(["B02", "B03", "B04", "B8A", "B11", "B12", "B01"]), HLS)
    assert proposal.automatic and proposal.numbers == (1, 2, 3, 4, 5, 6)


def test_a_mapping_is_the_bands_text_and_names_what_is_missing():
    assert mapped_bands(HLS, [3, 2, 1, 4, 4, 4]) == "3,2,1,4,4,4"
    with pytest.raises(BandError) as info:
        mapped_bands(HLS, [3, 2, 1, None, "", 4])
    assert message(info.value) == "pick the file band that holds NIR_NARROW, SWIR_1 in the Band mapping"


def test_messages_name_the_demo_controls_and_no_server_folder():
    text = "/tmp/gradio/3f2a/scene.tif: check (`bands`) and (`scale`); see https://example.org/a/b.tif"
    assert message(text) == (
        "scene.tif: check (the Band mapping) and (the Value scale box); see https://example.org/a/b.tif"
    )
