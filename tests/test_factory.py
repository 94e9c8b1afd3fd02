import json

import numpy as np
import pytest
import torch
from peft import PeftModel

import geoadapters
from geoadapters.backbone import create_backbone
from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError, OutputExistsError
from geoadapters.hub.transport import upload_folder
from geoadapters.methods.lora import QKVSplit
from tests.conftest import S1F11, SMALL, train_steps

CLASSES = ["not water", "water"]
METHODS = ["lora", "vpt", "vit_adapter", "linear_probe", "full"]
HEADS = ["linear", "fcn", "upernet", "unet"]


def make(method, head, checkpoint, **settings):
    if method == "vpt":
        settings.setdefault("prompt_tokens", 4)
    if head in ("fcn", "upernet", "unet"):
        settings.setdefault("channels", 32 if head != "unet" else (64, 32, 16, 8))
    return geoadapters.create(
        "prithvi-300", method, head, classes=CLASSES, checkpoint=checkpoint, input=S1F11, **SMALL, **settings
    )


# every method with the paper's head by default; the whole method x head matrix with the slow tests
MATRIX = [pytest.param(m, h, marks=() if h == "linear" else pytest.mark.slow) for m in METHODS for h in HEADS]


@pytest.mark.parametrize(("method", "head"), MATRIX)
def test_each_method_and_head_learns_and_round_trips(tmp_path, checkpoint, chip, method, head):
    torch.manual_seed(0)
    model = make(method, head, checkpoint)
    raw, label = chip
    x = model.normalize(raw)
    losses = train_steps(model, x, label)
    assert losses[-1] < losses[0]
    folder = model.save_pretrained(tmp_path / "adapter")
    loaded = geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    model.eval()
    with torch.no_grad():
        expected = model(x)
        got = loaded(x)
    assert got.shape == (2, 2, 64, 64)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_adapter_files_hold_only_the_adapter(tmp_path, checkpoint):
    model = make("lora", "linear", checkpoint)
    folder = model.save_pretrained(tmp_path / "adapter")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "geoadapter.json",
        "mlm.json",  # its STAC MLM description (geoadapters.stac.model)
    ]
    state = model.adapter_state_dict()
    assert all(".lora_" in k for k in state if k.startswith("base_model.model."))
    assert {k.split(".")[0] for k in state} == {"base_model", "head"}
    peft_config = json.loads((folder / "adapter_config.json").read_text())
    assert peft_config["peft_type"] == "LORA" and peft_config["r"] == 16
    assert peft_config["base_model_name_or_path"] == "ibm-nasa-geospatial/Prithvi-EO-2.0-300M"
    card = (folder / "README.md").read_text()
    assert (
        "base_model: ibm-nasa-geospatial/Prithvi-EO-2.0-300M" in card
        and "base_model_relation: adapter" in card
    )
    config = AdapterConfig.read(folder / "geoadapter.json")
    assert config.base.overrides == SMALL and config.input == S1F11 and config.method.r == 16


def test_lora_folder_loads_with_plain_peft(tmp_path, checkpoint, chip):
    torch.manual_seed(0)
    model = make("lora", "linear", checkpoint)
    train_steps(model, model.normalize(chip[0]), chip[1], steps=2)
    folder = model.save_pretrained(tmp_path / "adapter")
    # the same base as TerraTorch lays it out for LoRA (fused qkv split into q/k/v), then plain PEFT
    base = create_backbone("prithvi-300", checkpoint, **SMALL)
    for block in base.blocks:
        block.attn.qkv = QKVSplit(block.attn.qkv)
    peft_model = PeftModel.from_pretrained(base, folder).eval()
    x = model.normalize(chip[0])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(peft_model.base_model.model(x)[-1], model.encoder(x)[-1])


def test_load_from_a_hub_server_by_short_name_and_pinned_revision(tmp_path, fake_hub, checkpoint, chip):
    torch.manual_seed(0)
    model = make("lora", "upernet", checkpoint, name="sen1floods11-lora")
    x = model.normalize(chip[0])
    repo = "geoadapters/prithvi-300-sen1floods11-lora"
    outputs = []
    for version in ("first", "second"):  # two versions on the same branch
        train_steps(model, x, chip[1], steps=2)
        folder = model.save_pretrained(tmp_path / version)
        commit = upload_folder(folder, repo, sorted(p.name for p in folder.iterdir()))
        with torch.no_grad():
            outputs.append((commit, model.eval()(x)))
    (first_commit, first), (_, latest) = outputs
    with torch.no_grad():
        by_name = geoadapters.load("prithvi-300", "sen1floods11-lora", checkpoint=checkpoint)(x)
        pinned = geoadapters.load("prithvi-300", f"{repo}@{first_commit}", checkpoint=checkpoint)(x)
    torch.testing.assert_close(by_name, latest, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(pinned, first, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(first, latest)


def test_adapter_for_another_base_is_refused(tmp_path, checkpoint):
    folder = make("vpt", "linear", checkpoint).save_pretrained(tmp_path / "adapter")
    with pytest.raises(AdapterError, match=r"made for prithvi-300, not prithvi-100"):
        geoadapters.load("prithvi-100", folder)


def test_incomplete_and_corrupt_folders_are_clear_errors(tmp_path, checkpoint):
    folder = make("lora", "linear", checkpoint).save_pretrained(tmp_path / "adapter")
    weights = folder / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(AdapterError, match="corrupt or truncated"):
        geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    weights.unlink()
    with pytest.raises(AdapterError, match=r"lacks adapter_model\.safetensors"):
        geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    weights.write_bytes(data)
    config = json.loads((folder / "geoadapter.json").read_text())
    (folder / "geoadapter.json").write_text(json.dumps(config | {"colour": "blue"}))
    with pytest.raises(AdapterError, match=r"colour is no known key"):
        geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    (folder / "geoadapter.json").write_text(json.dumps(config | {"format_version": 99}))
    with pytest.raises(AdapterError, match="upgrade geoadapters"):
        geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    config["method"]["settings"]["r"] = 8
    (folder / "geoadapter.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="wrong shape"):
        geoadapters.load("prithvi-300", folder, checkpoint=checkpoint)
    with pytest.raises(AdapterError, match="resolves to nothing"):
        geoadapters.load("prithvi-300", "not a reference!")


def test_save_never_overwrites_by_accident(tmp_path, checkpoint):
    model = make("linear_probe", "linear", checkpoint)
    folder = model.save_pretrained(tmp_path / "adapter")
    with pytest.raises(OutputExistsError):
        model.save_pretrained(folder)
    model.save_pretrained(folder, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_create_routes_settings_to_method_head_and_base(checkpoint):
    model = make("lora", "fcn", checkpoint, r=4, channels=32, num_convs=2)
    assert model.config.method.r == 4
    assert model.config.head.channels == 32
    with pytest.raises(TypeError, match="no setting"):
        make("lora", "linear", checkpoint, colour=3)


def test_normalize_applies_the_input_contract(checkpoint, chip):
    model = make("linear_probe", "linear", checkpoint)
    raw = chip[0].clone()
    raw[0, :, 0, 0] = 0  # nodata
    x = model.normalize(raw)
    mean = np.array(S1F11.mean)[:, None, None]
    std = np.array(S1F11.std)[:, None, None]
    expected = (raw[0].double().numpy() * 0.0001 - mean) / std
    expected[:, 0, 0] = 0
    np.testing.assert_allclose(x[0].numpy(), expected, atol=1e-5)


def test_multilabel_head_learns(checkpoint, chip):
    torch.manual_seed(0)
    model = geoadapters.create(
        "prithvi-300",
        "lora",
        "classification",
        classes=["water", "land", "cloud"],
        checkpoint=checkpoint,
        input=S1F11,
        **SMALL,
    )
    assert model.config.task == "multilabel"
    x = model.normalize(chip[0])
    target = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    loss = torch.nn.functional.binary_cross_entropy_with_logits
    losses = train_steps(model, x, target, loss=loss, lr=2e-3)
    assert model(x).shape == (2, 3) and losses[-1] < losses[0]
