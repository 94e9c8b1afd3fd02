"""Every kind of adapter reference means the same source from every entry point, and one that resolves
to nothing gets the same one-line error from each.

The source a reference resolves to (`resolve_adapter`) is compared with what each entry point used:
the config `load` and `AdapterSet` built, the folder `info` describes, the run identity `predict`
records in its output's tags (which names the adapter's files or commit), the contract `export`
wrote, the model the demo runs. Hub references are served by an in-memory Hub on 127.0.0.1.
"""

import json

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window
from safetensors.torch import load_file

import geoadapters
from geoadapters.cli.main import main
from geoadapters.errors import AdapterError, GeoAdaptersError, WeightsNotFoundError
from geoadapters.inference.onnx_metadata import read_onnx_metadata
from geoadapters.inference.request import ModelRef, PredictOptions
from geoadapters.inference.resume import RUN_TAG, run_identity
from geoadapters.references import resolve_adapter
from tests.conftest import S2_CHIP, TEST_BASE, perturbed_model
from tests.training import layouts
from tests.training.runs import tiny_args

REPO = f"geoadapters/{TEST_BASE}-sen1floods11-lora"


@pytest.fixture(scope="module")
def folder(checkpoint, tmp_path_factory):
    return perturbed_model("lora", "linear", checkpoint).save_pretrained(
        tmp_path_factory.mktemp("adapters") / "sen1floods11-lora"
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 96 x 96 px window of the Sentinel-2 chip."""
    path = tmp_path_factory.mktemp("scenes") / "scene.tif"
    with rasterio.open(S2_CHIP) as src:
        window = Window(160, 0, 96, 96)
        profile = src.profile | {"width": 96, "height": 96, "transform": src.window_transform(window)}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
    return path


@pytest.fixture(scope="module")
def flood_data(tmp_path_factory):
    """A Sen1Floods11 root in its published layout, and its split lists."""
    return layouts.write_sen1floods11(tmp_path_factory.mktemp("s1f11") / "sen1floods11")


@pytest.fixture
def published(fake_hub, folder):
    """The adapter on the Hub as REPO (its short name on the test base is sen1floods11-lora)."""
    fake_hub.add_files(REPO, {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()})


def _predict_run(reference, base, checkpoint, scene, tmp_path, capsys):
    """The run identity `geoadapters predict` recorded for `reference`."""
    out = tmp_path / f"pred-{len(list(tmp_path.iterdir()))}.tif"
    argv = ["predict", str(scene), "--adapter", reference, "--checkpoint", str(checkpoint), "-o", str(out)]
    assert main([*argv, *(["--model", base] if base else [])]) == 0, capsys.readouterr().err
    with rasterio.open(out) as done:
        return done.tags()[RUN_TAG]


def _tested_weights(reference, checkpoint, flood_data, tmp_path):
    """The weights ``python -m training test --model.adapter REFERENCE --output DIR`` writes back.

    The recipe's base is the test base (``--model.base``), on which a short name resolves.
    """
    from training.__main__ import main as training

    root, splits = flood_data
    out = tmp_path / "tested"
    args = tiny_args("prithvi-300/sen1floods11-lora.yaml", root, tmp_path / "runs", checkpoint, splits=splits)
    assert training(["test", *args, "--model.adapter", reference, "--output", str(out)]) == 0
    return load_file(out / "adapter_model.safetensors")


def _expected_run(source, checkpoint):
    model = ModelRef(source.reference, source.base, None if checkpoint is None else str(checkpoint))
    return run_identity(source, model.pinned(source), PredictOptions())


CASES = {
    "folder": lambda folder: (str(folder), None),
    "short name": lambda folder: ("sen1floods11-lora", TEST_BASE),
    "Hub id": lambda folder: (REPO, None),
    "Hub id at a revision": lambda folder: (f"{REPO}@main", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_resolves_to_one_source_everywhere(
    case, published, folder, checkpoint, scene, flood_data, tmp_path, capsys
):
    reference, base = CASES[case](folder)
    source = resolve_adapter(reference, base)
    assert source.kind == ("folder" if case == "folder" else "hub")
    assert source.config == geoadapters.load(*filter(None, [base, reference]), checkpoint=checkpoint).config
    models = geoadapters.AdapterSet(TEST_BASE, checkpoint=checkpoint)
    assert models.add("a", reference).config == source.config
    assert main(["info", reference, "--json", *(["--model", base] if base else [])]) == 0
    assert json.loads(capsys.readouterr().out)["folder"] == str(source.path)
    assert _predict_run(reference, base, checkpoint, scene, tmp_path, capsys) == _expected_run(
        source, checkpoint
    )
    onnx = tmp_path / "model.onnx"
    argv = ["export", "--adapter", reference, "--checkpoint", str(checkpoint), "-o", str(onnx)]
    assert main([*argv, *(["--model", base] if base else [])]) == 0, capsys.readouterr().err
    exported = read_onnx_metadata(onnx)[0]
    assert (exported.name, exported.base, exported.method) == (
        source.config.name,
        source.config.base,
        source.config.method,
    )
    tested = _tested_weights(reference, checkpoint, flood_data, tmp_path)
    own = load_file(source.path / "adapter_model.safetensors")
    assert tested.keys() == own.keys() and all(torch.equal(tested[k], own[k]) for k in own)


def test_the_bundled_name_and_folder_are_the_bundled_model(scene, tmp_path, capsys, checkpoint):
    from demo import models

    by_name, by_path = resolve_adapter("sen1floods11-tiny"), resolve_adapter(geoadapters.DEFAULT_ADAPTER)
    assert (by_name.kind, by_path.kind) == ("bundled", "bundled") and by_name.path == by_path.path
    assert geoadapters.load("sen1floods11-tiny").config == by_name.config
    assert geoadapters.load(geoadapters.DEFAULT_BASE, geoadapters.DEFAULT_ADAPTER).config == by_name.config
    assert main(["predict", str(scene), "-o", str(tmp_path / "default.tif")]) == 0  # no --adapter: the same
    with rasterio.open(tmp_path / "default.tif") as done:
        assert done.tags()[RUN_TAG] == _expected_run(by_name, None)
    models.find_choices(hub=False)
    assert models.contract(models.BUNDLED.label) == by_name.config
    demo = models.predict(models.BUNDLED.label, scene, tmp_path / "demo.tif")
    with rasterio.open(demo.output) as a, rasterio.open(tmp_path / "default.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    with pytest.raises(AdapterError, match="full fine-tune: it replaces every base weight"):
        geoadapters.AdapterSet(geoadapters.DEFAULT_BASE).add("tiny", "sen1floods11-tiny")


def test_a_hub_adapter_the_demo_offers_is_the_one_the_resolver_gives(
    published, fake_hub, checkpoint, scene, tmp_path
):
    from demo import models

    weights = geoadapters.get_base(TEST_BASE).weights  # the demo loads the base from the Hub too
    fake_hub.add_files(weights.repo_id, {weights.filename: checkpoint.read_bytes()}, lfs=True)

    labels = [c.label for c in models.find_choices(timeout=30)]
    assert f"{REPO} (Hub)" in labels
    assert models.contract(f"{REPO} (Hub)") == resolve_adapter(REPO).config
    demo = models.predict(f"{REPO} (Hub)", scene, tmp_path / "demo.tif")  # resident beside its base's others
    assert main(["predict", str(scene), "--adapter", REPO, "-o", str(tmp_path / "cli.tif")]) == 0
    with rasterio.open(demo.output) as a, rasterio.open(tmp_path / "cli.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_an_onnx_file_runs_in_predict_and_is_refused_by_name_elsewhere(folder, checkpoint, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    assert main(["export", "--adapter", str(folder), "--checkpoint", str(checkpoint), "-o", str(path)]) == 0
    capsys.readouterr()
    source = resolve_adapter(path)
    assert source.kind == "onnx" and source.config.classes == resolve_adapter(folder).config.classes
    for call in (
        lambda: geoadapters.load(path),
        lambda: geoadapters.AdapterSet(TEST_BASE, checkpoint=checkpoint).add("onnx", path),
    ):
        with pytest.raises(AdapterError, match=r"is an ONNX file, which .* cannot use"):
            call()
    assert main(["export", "--adapter", str(path), "-o", str(tmp_path / "again.onnx")]) == 1
    assert "is an ONNX file, which geoadapters export cannot use" in capsys.readouterr().err
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base_weights"] == "none: an ONNX file carries every weight"


def test_the_published_fine_tune_loads_from_python_and_the_cli(tmp_path, fake_hub, capsys):
    """``prithvi-300`` + ``burn_scars-terratorch``: the converted fine-tune from `load` and `predict`."""
    from geoadapters.catalog import find_published
    from tests.convert.terratorch_files import (
        hand_model,
        model_args,
        terratorch_state,
        write_checkpoint,
        write_config,
    )

    entry = find_published("burn_scars-terratorch", "prithvi-300")
    encoder, head = hand_model("unet", channels=[32, 16, 16, 8])
    config = write_config(
        tmp_path / entry.config, model_args("UNetDecoder", decoder_channels=[32, 16, 16, 8])
    )
    ckpt = write_checkpoint(tmp_path / entry.checkpoint, terratorch_state(encoder, head))
    files = {entry.config: config.read_bytes(), entry.checkpoint: ckpt.read_bytes()}
    fake_hub.add_files(entry.repo_id, files, branch=entry.revision, lfs=True)
    source = resolve_adapter("burn_scars-terratorch", "prithvi-300")
    assert source.kind == "published" and source.origin.startswith(f"{entry.repo_id}@")
    assert resolve_adapter("burn_scars-terratorch").path == source.path  # one base has that name
    assert geoadapters.load("prithvi-300", "burn_scars-terratorch").config == source.config
    assert main(["info", "burn_scars-terratorch", "--model", "prithvi-300", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["folder"] == str(source.path)
    with rasterio.open(S2_CHIP) as src:  # the 6 HLS bands the fine-tune takes
        profile = src.profile | {
            "width": 64,
            "height": 64,
            "transform": src.window_transform(Window(0, 0, 64, 64)),
        }
        with rasterio.open(tmp_path / "s.tif", "w", **profile) as dst:
            dst.write(src.read(window=Window(0, 0, 64, 64)))
            dst.descriptions = src.descriptions
    argv = [
        "predict",
        str(tmp_path / "s.tif"),
        "--model",
        "prithvi-300",
        "--adapter",
        "burn_scars-terratorch",
    ]
    assert main([*argv, "--scale", "1"]) == 0, capsys.readouterr().err
    with rasterio.open(tmp_path / "s_pred.tif") as done:
        assert done.tags()["adapter"] == "burn_scars-terratorch"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err.removeprefix("error: ")


def test_a_reference_that_resolves_to_nothing_gets_one_line_everywhere(fake_hub, scene, tmp_path, capsys):
    from training.__main__ import main as training

    with pytest.raises(WeightsNotFoundError) as caught:
        resolve_adapter("nothing-lora", TEST_BASE)
    line = str(caught.value)
    assert "resolves to nothing: no local folder or .onnx file of that name" in line
    assert f"the Hub repository geoadapters/{TEST_BASE}-nothing-lora" in line and "\n" not in line
    for call in (
        lambda: geoadapters.load(TEST_BASE, "nothing-lora"),
        lambda: geoadapters.AdapterSet(TEST_BASE).add("x", "nothing-lora"),
        lambda: geoadapters.push("nothing-lora", "org/name"),  # no base: the short name needs one
    ):
        with pytest.raises(GeoAdaptersError) as other:
            call()
        assert str(other.value) == line or "is a short adapter name" in str(other.value)
    commands = [
        ["info", "nothing-lora", "--model", TEST_BASE],
        ["predict", str(scene), "--model", TEST_BASE, "--adapter", "nothing-lora"],
        ["export", "--model", TEST_BASE, "--adapter", "nothing-lora", "-o", str(tmp_path / "x.onnx")],
    ]
    for argv in commands:
        assert main(argv) == 1
        assert _one_line(capsys) == line, argv
    recipe = "training/recipes/prithvi-300/sen1floods11-lora.yaml"
    for command in ("test", "predict"):  # the one line, not LightningCLI's report of every class tried
        argv = [command, "--config", recipe, "--model.base", TEST_BASE, "--model.adapter", "nothing-lora"]
        assert training([*argv, "--data.root", str(tmp_path)]) == 1
        assert _one_line(capsys) == line, command
