import re

import pytest

from geoadapters import get_base, list_models, register_base
from geoadapters.bands import BANDS
from geoadapters.errors import UnknownNameError
from geoadapters.specs import InputSpec


@pytest.mark.parametrize("name", list_models())
def test_every_entry_is_consistent(name):
    spec = get_base(name)
    assert spec.name == name
    assert set(spec.input.bands) <= set(BANDS)
    assert len(spec.input.bands) == len(spec.input.mean) == len(spec.input.std)
    assert spec.weights.repo_id.count("/") == 1 and spec.weights.filename
    assert spec.weights.revision == "main" or re.fullmatch(r"[0-9a-f]{40}", spec.weights.revision)
    assert spec.description and spec.paper


def test_catalog_holds_the_models_of_the_paper_and_more():
    assert {
        "prithvi-100",
        "prithvi-v2-100-tl",
        "prithvi-300",
        "prithvi-300-tl",
        "prithvi-600",
        "prithvi-600-tl",
        "prithvi-v2-tiny-tl",
        "clay-v1",
        "decur-s2",
    } <= set(list_models())
    assert list_models("clay") == ["clay-v1"]


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'prithvi-300'"):
        get_base("prithvi300")


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="registered already"):
        register_base(get_base("prithvi-300"))


def test_overrides_apply_and_unknown_ones_are_refused():
    spec = get_base("prithvi-300").with_overrides(depth=2, revision="v1.0", bands=["B04", "B03", "B02"])
    assert spec.arch.depth == 2 and spec.arch.embed_dim == 1024
    assert spec.weights.revision == "v1.0"
    assert spec.input.bands == ("RED", "GREEN", "BLUE")
    assert spec.input.std == (2178.0, 2179.0, 2248.0)
    with pytest.raises(TypeError, match="no setting heads"):
        get_base("prithvi-300").with_overrides(heads=2)


def test_input_spec_validates():
    with pytest.raises(ValueError, match="2 bands but 1 means"):
        InputSpec(("RED", "GREEN"), (1.0,), (1.0, 1.0))
    with pytest.raises(ValueError, match="greater than 0"):
        InputSpec(("RED",), (1.0,), (0.0,))
