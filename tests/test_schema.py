"""The one schema of geoadapter.json: shipped as JSON Schema (package and docs), strict, bounded.

The JSON Schema is checked by an independent implementation (jsonschema) against the files geoadapters
writes, and against the same hostile edits that the pydantic schema refuses. Regenerate the shipped
files after changing a settings class: ``python tests/test_schema.py``.
"""

import copy
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from geoadapters.config import AdapterConfig, json_schema
from geoadapters.default import DEFAULT_ADAPTER
from geoadapters.errors import AdapterError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "geoadapters" / "geoadapter.schema.json", ROOT / "docs" / "geoadapter.schema.json"]
BUNDLED = json.loads((Path(DEFAULT_ADAPTER) / "geoadapter.json").read_text())


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("path", SHIPPED, ids=["package", "docs"])
def test_the_shipped_schema_is_the_one_the_code_validates_with(path):
    # in a fresh interpreter: other test modules register toy methods (tests/test_extensions.py)
    fresh = subprocess.run(
        [sys.executable, "-c", "import tests.test_schema as t; print(t.schema_text(), end='')"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert path.read_text() == fresh, "regenerate it: python tests/test_schema.py"


def validator():
    return jsonschema.Draft202012Validator(json.loads(SHIPPED[0].read_text()))


def test_files_geoadapters_writes_follow_the_schema():
    validator().validate(BUNDLED)
    config = AdapterConfig.from_dict(BUNDLED)
    validator().validate(json.loads(config.to_json()))
    assert AdapterConfig.from_dict(json.loads(config.to_json())) == config


def edit(path, value):
    data = copy.deepcopy(BUNDLED)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


# Hostile edits that both implementations refuse: the classes the hand-written checks missed first.
REFUSED = {
    "metrics not an object": (("metrics",), [1, 2]),
    "metrics value a set-like list of objects keyed by numbers": (("metrics",), "93.3"),
    "padding multiple 2**31": (("padding", "multiple"), 2**31),
    "padding mode unknown": (("padding", "mode"), "wrap"),
    "padding centred a string": (("padding", "centred"), "yes"),
    "tile size a bool": (("inference", "tile_size"), True),
    "overlap negative": (("inference", "overlap"), -1),
    "extra key at the top": (("evil",), 1),
    "extra key in input": (("input", "evil"), 1),
    "bands a string": (("input", "bands"), "RED"),
    "value_range of three": (("input", "value_range"), [0, 1, 2]),
    "value_range strings": (("input", "value_range"), ["0", "1"]),
    "metadata unknown": (("input", "metadata"), ["weather"]),
    "class colour not hex": (
        ("classes",),
        [{"name": "a", "color": "red"}, {"name": "b", "color": "#000000"}],
    ),
    "class object with extra key": (("classes",), [{"name": "a", "color": "#000000", "x": 1}]),
    "class name 300 characters": (("classes",), ["x" * 300, "y"]),
    "adapter name 300 characters": (("name",), "n" * 300),
    "method settings a string": (("method", "settings"), "r=4"),
    "head settings unknown key": (("head", "settings"), {"chanels": 3}),
    "method unknown": (("method", "name"), "bitfit2"),
    "task unknown": (("task",), "regression"),
    "base missing": (("base",), KeyError),
    "format_version a string": (("format_version",), "1"),
    "format_version 2": (("format_version",), 2),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_edits_are_refused_by_both_implementations(case):
    data = edit(*REFUSED[case])
    assert not validator().is_valid(data), case
    with pytest.raises(AdapterError) as err:
        AdapterConfig.from_dict(data)
    assert "\n" not in str(err.value) and len(str(err.value)) < 500


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("input", "nodata_fill"), math.nan, r"input.nodata_fill must be a finite number"),
        (("input", "mean"), [math.inf] * 6, r"input.mean.0 must be a finite number"),
        (("metrics",), [1], r"metrics must be an object"),
        (("padding", "multiple"), 2**31, r"padding.multiple must be less than or equal to 4096"),
        (("name",), "n" * 300, r"name must have at most 256 characters"),
        (("inference", "tile_size"), 224.0, r"inference.tile_size must be a valid integer"),
    ],
)
def test_refusals_are_one_line_and_name_the_field(path, value, message):
    with pytest.raises(AdapterError, match=message) as err:
        AdapterConfig.from_dict(edit(path, value))
    assert "\n" not in str(err.value)


def test_settings_are_frozen_and_strict_in_python_too():
    config = AdapterConfig.from_dict(BUNDLED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.inference.tile_size = 10**6  # type: ignore[misc]
    with pytest.raises(ValueError, match="valid integer"):
        dataclasses.replace(config.inference, tile_size="224")
    with pytest.raises(ValueError, match="less than or equal to 4096"):
        dataclasses.replace(config.inference, tile_size=100_000)


if __name__ == "__main__":
    for shipped in SHIPPED:
        shipped.write_text(schema_text())
    sys.exit(0)
