"""``python -m training fit`` and ``test`` end to end on the fixtures, per method and per head.

Each run trains the test base (prithvi-300 shrunk, official-layout checkpoint) for a few steps from a
recipe of the paper, writes the adapter folder, and a second ``test`` of that folder reproduces the
metrics stored in its geoadapter.json.
"""

import json

import pytest

import geoadapters
from tests.training.runs import tiny_args, train_losses
from training.__main__ import main

# The slowest runs belong to the long matrix (`-m "not slow"` skips them).
METHODS = [
    pytest.param("full", marks=pytest.mark.slow),
    "linear_probe",
    "lora",
    "vpt",
    pytest.param("vit_adapter", marks=pytest.mark.slow),
]
# Small decoders: the paper's shapes at a few channels.
HEADS = {
    "fcn": "{channels: 16, num_convs: 2}",
    "upernet": "{channels: 16}",
    "unet": "{channels: [32, 16, 16, 8]}",
}


def fit_and_retest(tmp_path, recipe, root, checkpoint, *extra, splits=None):
    out = tmp_path / "adapter"
    args = tiny_args(recipe, root, tmp_path / "fit", checkpoint, *extra, splits=splits)
    assert main(["fit", *args, "--output", str(out)]) == 0
    config = json.loads((out / "geoadapter.json").read_text())
    again = tmp_path / "retested"
    test_args = tiny_args(recipe, root, tmp_path / "test", checkpoint, *extra, splits=splits)
    assert main(["test", *test_args, "--model.adapter", str(out), "--output", str(again)]) == 0
    retested = json.loads((again / "geoadapter.json").read_text())
    return out, config, retested


def flat(metrics, prefix=""):
    out = {}
    for key, value in metrics.items():
        out |= flat(value, f"{prefix}{key}/") if isinstance(value, dict) else {prefix + key: value}
    return out


def check_run(tmp_path, out, config, retested, method, head):
    assert sorted(p.name for p in out.iterdir() if p.name != "adapter_config.json") == [
        "README.md",
        "adapter_model.safetensors",
        "geoadapter.json",
        "mlm.json",
    ]
    assert (config["method"]["name"], config["head"]["name"]) == (method, head)
    assert config["base"]["name"] == "prithvi-test"
    losses = train_losses(tmp_path / "fit")
    assert len(losses) == 3 and losses[-1] < losses[0]
    test = config["metrics"]["test"]
    assert 0 <= test["mIoU"] <= 100 and len(test["IoU"]) == 7
    assert flat(retested["metrics"]) == pytest.approx(flat(config["metrics"]), abs=1e-3)
    provenance = config["provenance"]
    assert provenance["epochs"] == 3 and provenance["seed"] == 0
    assert set(provenance["splits_sha256"]) == {"train", "val", "test"}
    assert config["inference"]["tile_size"] == 256


@pytest.mark.parametrize("method", METHODS)
def test_fit_each_method_writes_an_adapter_that_test_reproduces(method, tmp_path, cashew, checkpoint):
    root, _ = cashew
    recipe = f"prithvi-300/m_cashew_plantation-{method}.yaml"
    out, config, retested = fit_and_retest(tmp_path, recipe, root, checkpoint, "--data.batch_size", "3")
    check_run(tmp_path, out, config, retested, method, "linear")
    model = geoadapters.load("prithvi-test", out, checkpoint=checkpoint)
    assert model.classes[1] == "well-managed plantation"
    if method == "lora":
        assert (out / "adapter_config.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("head", list(HEADS))
def test_fit_each_decoder_of_the_ablation(head, tmp_path, cashew, checkpoint):
    root, _ = cashew
    recipe = f"decoders/prithvi-300/m_cashew_plantation-{head}.yaml"
    extra = ("--data.batch_size", "3", "--model.head_settings", HEADS[head])
    out, config, retested = fit_and_retest(tmp_path, recipe, root, checkpoint, *extra)
    check_run(tmp_path, out, config, retested, "full", head)
