"""`from_terratorch`: TerraTorch files in the published layout give the hand-assembled model's logits."""

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

import geoadapters
from geoadapters.errors import ConversionError
from tests.convert.terratorch_files import (
    BANDS,
    MEANS,
    NECKS,
    hand_model,
    model_args,
    reference_logits,
    terratorch_state,
    write_checkpoint,
    write_config,
)

# decoder, our head and its settings, TerraTorch decoder arguments
CASES = {
    "unet": ("UNetDecoder", "unet", {"channels": [32, 16, 16, 8]}, {"decoder_channels": [32, 16, 16, 8]}),
    "upernet": ("UperNetDecoder", "upernet", {"channels": 16}, {"decoder_channels": 16, "head_dropout": 0.1}),
    "fcn": ("FCNDecoder", "fcn", {"channels": 16, "num_convs": 2, "layer": 3},
            {"decoder_channels": 16, "decoder_num_convs": 2}),
    "linear": ("LinearDecoder", "linear", {"upsampling": 16, "layer": 3}, {"decoder_upsampling_size": 16}),
}  # fmt: skip
SINGLE_MAP_NECKS = [{"name": "SelectIndices", "indices": [3]}, {"name": "ReshapeTokensToImage"}]


def _files(tmp_path: Path, case: str, **kwargs: object) -> tuple[Path, Path, tuple]:
    decoder, head, settings, args = CASES[case]
    layers = settings.pop("layer", None) if case in ("fcn", "linear") else None
    hand = hand_model(head, **settings, **({"layer": layers} if layers is not None else {}))
    necks = SINGLE_MAP_NECKS if case in ("fcn", "linear") else NECKS
    config = write_config(tmp_path / "config.yaml", model_args(decoder, necks=necks, **args))
    ckpt = write_checkpoint(tmp_path / "model.pt", terratorch_state(*hand, **kwargs))
    return config, ckpt, hand


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("size", [(64, 64), (40, 72)])
def test_logits_equal_the_hand_assembly(tmp_path: Path, case: str, size: tuple[int, int]) -> None:
    config, ckpt, hand = _files(tmp_path, case)
    model = geoadapters.from_terratorch(config, ckpt)
    x = torch.randn(2, 6, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(x)
    expected = reference_logits(*hand, x)
    assert got.shape == (2, 2, *size)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_legacy_decoder_fpn_layout_loads_the_same(tmp_path: Path) -> None:
    """``decoder_scale_modules: true`` checkpoints keep the pyramid as ``model.decoder.fpn*``."""
    hand = hand_model("upernet", channels=16)
    legacy_necks = NECKS[:2]
    args = model_args("UperNetDecoder", necks=legacy_necks, decoder_channels=16, decoder_scale_modules=True)
    config = write_config(tmp_path / "config.yaml", args)
    state = terratorch_state(*hand, legacy=True)
    assert any(k.startswith("model.decoder.fpn1.") for k in state)
    model = geoadapters.from_terratorch(config, write_checkpoint(tmp_path / "legacy.pt", state))
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(*hand, x), atol=1e-5, rtol=1e-5)


def test_unet_variant_follows_the_checkpoint_and_can_be_overridden(tmp_path: Path) -> None:
    config, ckpt, hand = _files(tmp_path, "unet")
    assert geoadapters.from_terratorch(config, ckpt).config.head.final_upsample is True  # Lightning 2.5.0
    newer = write_checkpoint(tmp_path / "newer.pt", terratorch_state(*hand), lightning="2.6.0")
    with pytest.raises(ConversionError, match="final_upsample"):
        geoadapters.from_terratorch(config, newer)
    model = geoadapters.from_terratorch(config, newer, final_upsample=False)
    keep = hand_model("unet", channels=[32, 16, 16, 8], final_upsample=False)
    x = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        got, old = model(x), geoadapters.from_terratorch(config, ckpt)(x)
    torch.testing.assert_close(got, reference_logits(*keep, x), atol=1e-5, rtol=1e-5)
    assert (got - old).abs().max() > 1e-3  # same weights, different logits


def test_input_contract_and_padding_come_from_the_config(tmp_path: Path) -> None:
    config, ckpt, _ = _files(tmp_path, "linear")
    model = geoadapters.from_terratorch(config, ckpt)
    spec = model.input_spec
    assert spec.bands == tuple(BANDS) and spec.mean == tuple(MEANS) and spec.scale == 1.0
    assert spec.nodata_fill == 0.0
    assert model.classes == ("Not burned", "Burn scar")
    assert model.config.padding.to_dict() == {"mode": "reflect", "multiple": 32, "centred": True}
    raw = torch.full((1, 6, 32, 32), 0.1)
    # TerraTorch replaces nodata by no_data_replace (0) in raw units, then normalises: -mean / std
    model.config = dataclasses.replace(model.config, input=dataclasses.replace(spec, nodata=-9999))
    raw[..., 0, 0] = -9999
    x = model.normalize(raw)
    torch.testing.assert_close(x[0, :, 0, 0], -torch.tensor(MEANS) / torch.tensor(spec.std))


def test_the_tiling_is_the_one_terratorch_tested_with(tmp_path: Path) -> None:
    config, ckpt, _ = _files(tmp_path, "linear")
    assert geoadapters.from_terratorch(config, ckpt).config.inference.to_dict() == {
        "tile_size": 224,
        "overlap": 32,
        "batch_size": 8,
    }  # fmt: skip  (tiled_inference's defaults: crop 224, stride 192)
    data = yaml.safe_load(config.read_text())
    data["model"]["init_args"]["tiled_inference_parameters"] = {"crop": 256, "stride": 240, "batch_size": 4}
    config.write_text(yaml.safe_dump(data))
    inference = geoadapters.from_terratorch(config, ckpt).config.inference
    assert (inference.tile_size, inference.overlap, inference.batch_size) == (256, 16, 4)
    data["model"]["init_args"]["tiled_inference_parameters"] = {"crop": 224, "stride": 300}
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConversionError, match="tiled_inference_parameters"):
        geoadapters.from_terratorch(config, ckpt)


def test_sen1floods11_datamodule_constants(tmp_path: Path) -> None:
    hand = hand_model("upernet", base="prithvi-300-tl", channels=16)
    args = model_args(
        "UperNetDecoder", backbone="prithvi_eo_v2_300_tl", decoder_channels=16, head_dropout=0.1
    )
    init = {"bands": BANDS, "constant_scale": 0.0001, "no_data_replace": 0, "use_metadata": False}
    data = {"class_path": "terratorch.datamodules.Sen1Floods11NonGeoDataModule", "init_args": init}
    config = write_config(tmp_path / "config.yaml", args, data, class_names=None)
    model = geoadapters.from_terratorch(
        config,
        write_checkpoint(tmp_path / "s1f11.pt", terratorch_state(*hand)),
        classes=["no water", "water"],
    )
    assert model.config.base.name == "prithvi-300-tl"
    assert model.input_spec.scale == 0.0001 and model.input_spec.mean[0] == pytest.approx(0.1412956)
    x = torch.randn(1, 6, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(*hand, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"decoder_attention_type": "scse"}, "decoder_attention_type"),
        ({"backbone_vpt": True}, "backbone_vpt"),
        ({"head_channel_list": [16]}, "head_channel_list"),
        ({"rescale": False}, "rescale"),
        ({"decoder": "ASPPSegmentationHead"}, "decoder"),
        ({"peft_config": {"method": "LORA"}}, "peft_config"),
    ],
)
def test_unsupported_config_keys_are_named(tmp_path: Path, change: dict, key: str) -> None:
    config, ckpt, _ = _files(tmp_path, "unet")
    data = yaml.safe_load(config.read_text())
    data["model"]["init_args"]["model_args"] |= change
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConversionError, match=key):
        geoadapters.from_terratorch(config, ckpt)


def test_tensors_the_config_does_not_build_are_an_error(tmp_path: Path) -> None:
    config, _, hand = _files(tmp_path, "unet")
    state = terratorch_state(*hand) | {"model.aux_heads.aux.weight": torch.zeros(1)}
    with pytest.raises(ConversionError, match="aux_heads"):
        geoadapters.from_terratorch(config, write_checkpoint(tmp_path / "extra.pt", state))
    state = terratorch_state(*hand)
    del state["model.head.head.2.bias"]
    with pytest.raises(ConversionError, match="missing"):
        geoadapters.from_terratorch(config, write_checkpoint(tmp_path / "short.pt", state))
