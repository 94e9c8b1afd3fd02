"""STAC provenance: every adapter folder's ``mlm.json`` is its ``geoadapter.json`` in MLM terms (parsed
back by stac-model), a prediction's Item and a batch's Collection pass pystac's core schemas offline,
and they link the scene, the adapter and the base, with an asset per output."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
from pystac import Item
from stac_model.schema import MLModelProperties

import geoadapters
from geoadapters.cli.main import main
from geoadapters.hub.folder import read_config
from geoadapters.stac.item import ITEM_EXTENSIONS
from geoadapters.stac.model import MLM_FILE, MLM_SCHEMA, mlm_item, stac_classes
from geoadapters.stac.validate import validate
from tests.scenes import chip_pixels, write_like

FOLDER = Path(geoadapters.DEFAULT_ADAPTER)
# The classification extension's class ``name``: machine-readable (its schema's pattern)
CLASS_NAME = re.compile(r"^[0-9A-Za-z-_]+$")


def test_the_bundled_adapter_s_mlm_json_is_its_config():
    written = json.loads((FOLDER / MLM_FILE).read_text())
    config = read_config(FOLDER)
    assert written == mlm_item(config)
    assert validate(written) == []  # core schema offline, MLM fields through stac-model
    mlm = MLModelProperties(**written["properties"])
    assert mlm.name == config.name and mlm.framework == "pytorch"
    (model_input,) = mlm.input
    assert list(model_input.bands) == list(config.input.bands)
    assert model_input.input.shape == [-1, len(config.input.bands), 128, 128]
    # the z-score of stored values is the config's normalisation of scaled values
    scale = config.input.scale
    for scaling, mean, std in zip(
        model_input.value_scaling, config.input.mean, config.input.std, strict=True
    ):
        assert (scaling.mean * scale, scaling.stddev * scale) == pytest.approx((mean, std))
    # MLM needs the named input bands described as the Item's bands too (STAC 1.1 ``bands``)
    assert [band["name"] for band in written["properties"]["bands"]] == list(config.input.bands)
    (output,) = mlm.output
    assert [c.description for c in output.classes] == list(config.classes)
    assert [c.name for c in output.classes] == ["Not_water", "Water"]
    assert mlm.pretrained_source == f"{config.base.repo_id}@{config.base.revision}"
    assert Item.from_dict(written).assets["weights"].roles == ["mlm:model", "mlm:weights"]


def test_class_objects_have_machine_readable_names_and_the_class_names_as_titles():
    config = read_config(FOLDER)
    odd = dataclasses.replace(config, classes=("bare soil / rock", "forêt", "___", "a-b_c"), colors=())
    classes = stac_classes(odd)
    assert [c["name"] for c in classes] == ["bare_soil_rock", "for_t", "class_2", "a-b_c"]
    assert all(CLASS_NAME.match(c["name"]) for c in classes)
    assert [c["title"] for c in classes] == list(odd.classes) == [c["description"] for c in classes]
    assert [c["value"] for c in classes] == [0, 1, 2, 3] and "color_hint" not in classes[0]
    assert [c["name"] for c in stac_classes(odd, titles=False)] == [c["name"] for c in classes]
    assert "title" not in stac_classes(odd, titles=False)[0]


def test_saved_adapters_carry_their_mlm_description(tmp_path):
    model = geoadapters.load(str(FOLDER))
    model.save_pretrained(tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / MLM_FILE).read_text()) == mlm_item(read_config(tmp_path / "copy"))


def test_a_batch_writes_an_item_per_scene_and_a_collection(tmp_path):
    scenes = [
        write_like(tmp_path / f"s{i}.tif", chip_pixels(((0, 256), (i * 128, i * 128 + 256)))) for i in (0, 1)
    ]
    out = tmp_path / "out"
    out.mkdir()
    args = ["predict", *map(str, scenes), "-o", str(out), "--stac", "--areas", "--uncertainty"]
    assert main([*args, "--probabilities", "--vector", "parquet"]) == 0
    for scene in scenes:
        path = out / f"{scene.stem}_pred.stac.json"
        item = json.loads(path.read_text())
        assert sorted(validate(item)) == sorted(ITEM_EXTENSIONS.values())  # extensions: not offline
        assert set(item["assets"]) == {
            "class_map",
            "probabilities",
            "uncertainty",
            "vectors",
            "areas",
            "areas_json",
        }
        for asset in item["assets"].values():
            file = out / asset["href"]
            assert file.is_file() and asset["file:size"] == file.stat().st_size
        classes = item["assets"]["class_map"]["classification:classes"]
        assert [c["title"] for c in classes] == ["Not water", "Water"]
        assert all(CLASS_NAME.match(c["name"]) for c in classes)
        links = {link["title"]: link["href"] for link in item["links"]}
        assert links["input scene"] == scene.resolve().as_uri()
        assert links["adapter sen1floods11-tiny (MLM)"] == (FOLDER / MLM_FILE).resolve().as_uri()
        assert any(title.startswith("base weights prithvi-v2-tiny-tl") for title in links)
        assert item["properties"]["processing:software"] == {"geoadapters": geoadapters.__version__}
        west, south, east, north = item["bbox"]
        assert -1 < west < east < 0 and 38 < south < north < 39  # the chip, near Murcia
        Item.from_dict(item)
    collection = json.loads((out / "collection.json").read_text())
    assert validate(collection) == []
    assert sorted(link["href"] for link in collection["links"]) == [
        f"./{s.stem}_pred.stac.json" for s in scenes
    ]
    assert MLM_SCHEMA not in json.dumps(collection)
