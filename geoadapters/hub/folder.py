"""Adapter folders on disk: written whole or not at all, read back with checks; plain file I/O.

An adapter folder holds ``geoadapter.json`` (`AdapterConfig`), ``adapter_model.safetensors`` (method
and head tensors only, never the frozen base weights), ``README.md`` (the model card), ``mlm.json``
(the same model described with STAC's MLM extension, `geoadapters.stac.model`) and whatever
files the method adds (PEFT's ``adapter_config.json`` for LoRA, so PEFT users can load it too).
`GeoModel.save_pretrained` assembles the tensors and calls `write_adapter`; nothing here imports model
code, and reading the config or the tensor shapes does not import torch. Folders come from strangers:
the files must be regular files (a symlink to one is fine: the Hugging Face cache is made of them), and
tensors must be floating point and finite (a NaN adapter would give a confident all-class-0 map).
"""

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from geoadapters._staging import staged_dir, staged_file
from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError
from geoadapters.hub.card import render_card
from geoadapters.stac.model import MLM_FILE, mlm_json
from geoadapters.version import __version__

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "ADAPTER_FILES",
    "CARD",
    "CONFIG",
    "WEIGHTS",
    "adapter_files",
    "read_config",
    "read_shapes",
    "read_tensors",
    "refresh_mlm",
    "write_adapter",
]

CONFIG = "geoadapter.json"
WEIGHTS = "adapter_model.safetensors"
CARD = "README.md"


def write_adapter(
    folder: str | Path,
    config: AdapterConfig,
    tensors: Mapping[str, "Tensor"],
    *,
    write_extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an adapter folder; it appears whole or not at all.

    Args:
        folder: The folder to write.
        config: The adapter's config; the geoadapters version is added to its provenance.
        tensors: The adapter's tensors (method and head) under their file names.
        write_extra: Writes the method's own files into the (staging) folder it is given.
        overwrite: Replace an existing folder.

    Raises:
        OutputExistsError: `folder` exists and `overwrite` is False.
    """
    from safetensors.torch import save_file

    provenance = {"geoadapters_version": __version__} | dict(config.provenance)
    config = dataclasses.replace(config, provenance=provenance)
    state = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    # safetensors refuses tensors that share memory (q, k, v: views of one fused projection)
    storages: set[int] = set()
    for name, tensor in state.items():
        if tensor.untyped_storage().data_ptr() in storages:
            state[name] = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
    # One key: safetensors writes its metadata in hash-map order, so several keys would make two saves
    # of the same adapter differ byte for byte (the version and method are in geoadapter.json).
    metadata = {"format": "pt"}
    with staged_dir(folder, overwrite=overwrite) as staging:
        save_file(state, staging / WEIGHTS, metadata=metadata)
        (staging / CONFIG).write_text(config.to_json())
        (staging / MLM_FILE).write_text(mlm_json(config))
        if write_extra is not None:
            write_extra(staging)
        parameters = sum(t.numel() for t in state.values())
        size = sum(t.numel() * t.element_size() for t in state.values())
        (staging / CARD).write_text(render_card(config, parameters=parameters, size_bytes=size))
    return Path(folder)


def refresh_mlm(folder: str | Path, config: AdapterConfig) -> bool:
    """Rewrite the folder's ``mlm.json`` from `config` when it is missing or describes another config.

    A hand-edited ``geoadapter.json`` (new class names, a new revision) leaves the ``mlm.json`` that
    `write_adapter` wrote behind; `push` calls this so that the two never disagree on the Hub. A
    symlinked ``mlm.json`` is left alone (`adapter_files` refuses it). Returns whether it was written.
    """
    path = Path(folder) / MLM_FILE
    text = mlm_json(config)
    if path.is_symlink() or (path.is_file() and path.read_text(errors="replace") == text):
        return False
    with staged_file(path, overwrite=True) as staged:
        staged.write_text(text)
    return True


_FLOATING = ("F16", "BF16", "F32", "F64")
# The one integer tensor of the modules here: BatchNorm's step counter (ViT-Adapter's spatial prior).
_COUNTER = "num_batches_tracked"


# Every file an adapter folder may hold (what `write_adapter` writes); `push` uploads these only.
ADAPTER_FILES = (CONFIG, WEIGHTS, CARD, MLM_FILE, "adapter_config.json")


def adapter_files(folder: str | Path) -> list[str]:
    """Names of the adapter's own files in `folder` (`ADAPTER_FILES` present), for an upload.

    Other files (logs, checkpoints, data someone left there) are not the adapter's and are left out.

    Raises:
        AdapterError: One of them is a symlink (its target is not uploaded) or no regular file.
    """
    folder = Path(folder)
    names = [name for name in ADAPTER_FILES if (folder / name).exists() or (folder / name).is_symlink()]
    for name in names:
        if (folder / name).is_symlink() or not (folder / name).is_file():
            raise AdapterError(
                f"{folder / name} is a symlink or no regular file: push uploads an adapter's own files, "
                "copy it into the folder"
            )
    return names


def _weights(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder} is not an adapter folder")
    missing = [name for name in (CONFIG, WEIGHTS) if not (folder / name).exists()]
    if missing:
        raise AdapterError(f"adapter folder {folder} lacks {' and '.join(missing)}")
    odd = [name for name in (CONFIG, WEIGHTS) if not (folder / name).is_file()]
    if odd:
        raise AdapterError(f"{folder / odd[0]} is not a regular file (a device, FIFO or folder)")
    return folder / WEIGHTS


def read_config(folder: str | Path) -> AdapterConfig:
    """The validated config of an adapter folder.

    Raises:
        AdapterError: The folder lacks a file, or its config is invalid.
    """
    _weights(folder)
    return AdapterConfig.read(Path(folder) / CONFIG)


def read_shapes(folder: str | Path) -> dict[str, tuple[int, ...]]:
    """Shapes of the adapter's tensors, read from the safetensors header (no tensor is loaded).

    Raises:
        AdapterError: The folder lacks a file, or the weights file is corrupt.
    """
    path = _weights(folder)
    try:
        with safe_open(path, "np") as weights:
            slices = {key: weights.get_slice(key) for key in weights.keys()}  # noqa: SIM118
            dtypes = {key: s.get_dtype() for key, s in slices.items()}
            shapes = {key: tuple(s.get_shape()) for key, s in slices.items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise AdapterError(f"{path} is corrupt or truncated: {err}") from err
    odd = sorted(
        key
        for key, dtype in dtypes.items()
        if dtype not in _FLOATING and not (key.endswith(_COUNTER) and dtype == "I64")
    )
    if odd:
        raise AdapterError(
            f"{path} holds tensors that are not floating point ({odd[0]}: {dtypes[odd[0]]}); "
            "adapter weights are F16, BF16, F32 or F64"
        )
    return shapes


def read_tensors(folder: str | Path) -> dict[str, "Tensor"]:
    """The adapter's tensors.

    Raises:
        AdapterError: The folder lacks a file, the weights are corrupt or truncated, or a tensor is not
            floating point or holds NaN or infinite values.
    """
    import torch
    from safetensors.torch import load_file

    read_shapes(folder)  # dtypes, from the header
    path = _weights(folder)
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise AdapterError(f"{path} is corrupt or truncated: {err}") from err
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise AdapterError(f"{path}: tensor {key} holds NaN or infinite values")
    return tensors
