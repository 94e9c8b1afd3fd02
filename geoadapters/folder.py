"""Adapter folders on disk: writing them whole or not at all, and reading them back with checks.

An adapter folder holds ``geoadapter.json`` (`AdapterConfig`), ``adapter_model.safetensors`` (method
and head tensors only, never the base weights), ``README.md`` (the model card) and, for LoRA,
PEFT's ``adapter_config.json`` so that PEFT users can load the LoRA weights too.
"""

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from geoadapters import __version__
from geoadapters.adapters.lora import LoraSettings, peft_config
from geoadapters.card import render_card
from geoadapters.config import FORMAT_VERSION, AdapterConfig
from geoadapters.errors import AdapterError, OutputExistsError
from geoadapters.model import GeoModel

__all__ = ["CARD", "CONFIG", "PEFT_CONFIG", "WEIGHTS", "read_adapter", "write_adapter"]

CONFIG = "geoadapter.json"
WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"
CARD = "README.md"


def write_adapter(model: GeoModel, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write `model`'s adapter folder; it appears whole or not at all.

    Raises:
        OutputExistsError: `folder` exists and `overwrite` is False.
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise OutputExistsError(f"{folder} exists; pass overwrite=True (--overwrite) to replace it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        config = model.config
        provenance = {"geoadapters_version": __version__} | dict(config.provenance)
        config = dataclasses.replace(config, provenance=provenance)
        state = {k: v.detach().contiguous().cpu() for k, v in model.adapter_state_dict().items()}
        metadata = {
            "format": "pt",
            "geoadapters_format_version": str(FORMAT_VERSION),
            "method": config.method.name,
        }
        save_file(state, staging / WEIGHTS, metadata=metadata)
        config.write(staging / CONFIG)
        if config.method.name == "lora":
            peft_config(LoraSettings.from_dict(config.method.settings), model.encoder).save_pretrained(
                staging
            )
        (staging / CARD).write_text(render_card(config, state))
        umask = os.umask(0)
        os.umask(umask)
        # mkdtemp and safetensors make private files; an adapter folder is for sharing
        staging.chmod(0o777 & ~umask)
        for file in staging.iterdir():
            file.chmod(0o666 & ~umask)
        if folder.exists():
            previous = staging.with_suffix(".old")
            folder.rename(previous)
            staging.rename(folder)
            shutil.rmtree(previous)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def read_adapter(folder: str | Path) -> tuple[AdapterConfig, dict[str, Tensor]]:
    """Config and tensors of an adapter folder.

    Raises:
        AdapterError: A file is missing, or the weights are corrupt or truncated.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder} is not an adapter folder")
    missing = [name for name in (CONFIG, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise AdapterError(f"adapter folder {folder} lacks {' and '.join(missing)}")
    config = AdapterConfig.read(folder / CONFIG)
    try:
        state = load_file(folder / WEIGHTS)
    except (SafetensorError, OSError, ValueError) as err:
        raise AdapterError(f"{folder / WEIGHTS} is corrupt or truncated: {err}") from err
    return config, state
