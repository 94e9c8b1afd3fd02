"""TerraTorch's side of ``benchmarks/predict.py --terratorch``: its config and its fine-tuned checkpoint.

`terratorch_config` (standard library only; predict.py imports it) gives the LightningCLI config a
TerraTorch user predicts with for the model predict.py times on our side: a `SemanticSegmentationTask`
built by the `EncoderDecoderFactory` (the Prithvi backbone with the same bands, reading the same
official-layout base checkpoint, LoRA through its ``peft_config``, its `LinearDecoder`, the same
transposed convolution as our linear head, which TerraTorch 1.2.11 follows with a 1x1 convolution from
classes to classes, set to the identity), tiled inference at the same tile, stride and batch, and
`GenericNonGeoSegmentationDataModule` reading a folder of GeoTIFFs with the same normalisation.

Run with TerraTorch's python, ``terratorch_side.py setup CONFIG CKPT`` builds that task with TerraTorch,
moves its trainable tensors off their initial values (LoRA's B starts at zero) as predict.py does
on our side, makes that 1x1 convolution the identity, and saves it as the
weights-only Lightning checkpoint that ``terratorch predict --ckpt_path`` reads, the file TerraTorch's
training writes beside its full checkpoint (``*_state_dict.ckpt``). Nothing is downloaded.
"""

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The paper's LoRA targets, as TerraTorch names them once ``replace_qkv`` has split the fused qkv.
LORA_TARGETS = ["qkv.q_linear", "qkv.v_linear", "mlp.fc1", "mlp.fc2"]
DATAMODULE = "GenericNonGeoSegmentationDataModule"


def terratorch_config(
    *,
    backbone: str,
    backbone_checkpoint: Path,
    scene_bands: Sequence[str],
    bands: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    nodata: float | None,
    classes: int,
    patch: int,
    rank: int,
    alpha: float,
    tile: int,
    overlap: int,
    batch: int,
    root: Path,
) -> dict[str, Any]:
    """The LightningCLI config (model, data, trainer) of `terratorch predict` for this model.

    Args:
        backbone: TerraTorch backbone name (``prithvi_eo_v1_100``).
        backbone_checkpoint: The base's checkpoint in its official layout, read as TerraTorch reads
            a local copy of the Hub file (``backbone_ckpt_path``).
        scene_bands: The scene's bands, in file order, in TerraTorch's `HLSBands` names.
        bands: The model's input bands (the same names).
        mean: Per input band, in the file's units (TerraTorch normalises the raw values).
        std: Per input band, in the file's units.
        nodata: The files' nodata value, put back where rioxarray masked it (None: none).
        classes: Number of classes.
        patch: The backbone's patch size (the linear decoder's up-sampling).
        rank: LoRA rank.
        alpha: LoRA alpha.
        tile: Tiled inference crop.
        overlap: Overlap of neighbouring tiles (stride = tile - overlap).
        batch: Tiles per forward pass.
        root: Lightning's default_root_dir (where LightningCLI writes the resolved config.yaml, so
            not the folder of the config it is given).
    """
    model_args = {
        "backbone": backbone,
        "backbone_pretrained": True,
        "backbone_ckpt_path": str(backbone_checkpoint),
        "backbone_bands": list(bands),
        "necks": [{"name": "SelectIndices", "indices": [-1]}, {"name": "ReshapeTokensToImage"}],
        "decoder": "LinearDecoder",
        "decoder_upsampling_size": patch,
        # 1.2.11 reads `includes_head` from the decoder registry (False), not from LinearDecoder (True):
        # the decoder is not given num_classes unless asked, and a 1x1 SegmentationHead (classes ->
        # classes) follows it.
        "decoder_num_classes": classes,
        "num_classes": classes,
        "peft_config": {
            "method": "LORA",
            "replace_qkv": "qkv",
            "peft_config_kwargs": {"target_modules": LORA_TARGETS, "r": rank, "lora_alpha": alpha},
        },
    }
    task = {
        "model_factory": "EncoderDecoderFactory",
        "model_args": model_args,
        "loss": "ce",
        "freeze_backbone": False,  # TerraTorch refuses a PEFT model with a frozen backbone
        "tiled_inference_parameters": {"crop": tile, "stride": tile - overlap, "batch_size": batch},
    }
    data = {
        "batch_size": 1,
        "num_workers": 0,
        "num_classes": classes,
        "dataset_bands": list(scene_bands),
        "output_bands": list(bands),
        "means": list(mean),
        "stds": list(std),
        "no_data_replace": nodata,
    }
    return {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "logger": False, "default_root_dir": str(root)},
        "model": {"class_path": "terratorch.tasks.SemanticSegmentationTask", "init_args": task},
        "data": {"class_path": f"terratorch.datamodules.{DATAMODULE}", "init_args": data},
    }


def setup(config: Path, checkpoint: Path) -> dict[str, Any]:
    """Build the task of `config` with TerraTorch and save it as a weights-only Lightning checkpoint."""
    import torch
    import yaml
    from lightning.pytorch import Trainer
    from terratorch.tasks import SemanticSegmentationTask

    torch.manual_seed(0)
    model = yaml.safe_load(config.read_text())["model"]
    init_args = model["init_args"]
    task = SemanticSegmentationTask(**init_args)
    trainable = [p for p in task.parameters() if p.requires_grad]
    with torch.no_grad():
        for p in trainable:
            p.add_(torch.randn_like(p) * 0.01)
        classifier = task.model.head.head[-1]  # the 1x1 convolution after LinearDecoder: the identity,
        classifier.weight.copy_(torch.eye(len(classifier.bias))[..., None, None])  # as our linear head
        classifier.bias.zero_()
    trainer = Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    trainer.strategy.connect(task)
    trainer.save_checkpoint(checkpoint, weights_only=True)
    # The hyperparameters as `terratorch fit` records them (LightningCLI: the config's init_args and
    # the class path), which `terratorch predict --ckpt_path` parses back into its config.
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    saved["hyper_parameters"] = init_args | {"_class_path": model["class_path"]}
    torch.save(saved, checkpoint)
    lora = sum("lora_" in name for name, _ in task.named_parameters())
    return {
        "parameters": sum(p.numel() for p in task.parameters()),
        "trainable": sum(p.numel() for p in trainable),
        "lora_tensors": lora,
        "checkpoint_mb": checkpoint.stat().st_size / 2**20,
    }


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "setup":
        raise SystemExit("usage: terratorch_side.py setup CONFIG CKPT")
    print(json.dumps(setup(Path(sys.argv[2]), Path(sys.argv[3]))))
