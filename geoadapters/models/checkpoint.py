"""Reading official checkpoint files and loading them strictly into our modules.

Official base checkpoints are PyTorch pickles (``.pt``, ``.pth``, Lightning ``.ckpt``); they are read
with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
Nothing downloaded is unpickled any other way. ``.safetensors`` files are read as such. Both are
memory-mapped (copy on write): reading a 1.2 GB file costs page faults only for what is used.
"""

import pickle
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from geoadapters.bands import canonical_bands
from geoadapters.errors import CheckpointError, NewBandWarning, WeightsNotFoundError

__all__ = ["load_strict", "map_band_weights", "read_checkpoint", "read_state_dict", "state_mismatch"]

# Containers in which trainers nest the weights: Lightning ("state_dict"), DeiT/MAE ("model").
_NESTED_KEYS = ("state_dict", "model")


def read_checkpoint(path: str | Path) -> object:
    """What a checkpoint file holds (tensors in plain containers), read without unpickling anything else.

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            obj: object = load_file(path)
        elif zipfile.is_zipfile(path):  # torch.save's format since torch 1.6, which mmap needs
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message goes on to advise weights_only=False: exactly what must not be done here
        raise CheckpointError(
            f"cannot read checkpoint {path}: it holds Python objects other than tensors, which are never "
            "unpickled (they could run code); use an official checkpoint or a .safetensors file"
        ) from err
    except (RuntimeError, OSError, EOFError, ValueError, SafetensorError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from err
    return obj


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read the tensors of a checkpoint file, unwrapping trainer containers.

    Raises:
        WeightsNotFoundError: The file does not exist.
        CheckpointError: The file is truncated, corrupt, or holds no tensors.
    """
    obj = read_checkpoint(path)
    for key in _NESTED_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"checkpoint {path} holds no tensors")
    return tensors


def map_band_weights(
    weight: Tensor,
    init: Tensor,
    pretrained_bands: Sequence[str],
    bands: Sequence[str],
) -> Tensor:
    """Pretrained input-layer weights rearranged for another band list (dimension 1 = bands).

    A band the model keeps takes the pretrained slice of the same band; a band the checkpoint never
    saw keeps its fresh initialisation `init` and raises a `NewBandWarning`.
    """
    pretrained = canonical_bands(pretrained_bands)
    wanted = canonical_bands(bands)
    if weight.shape[1] != len(pretrained):
        raise CheckpointError(
            f"input-layer weight {tuple(weight.shape)} has {weight.shape[1]} bands, "
            f"not the {len(pretrained)} pretrained bands {', '.join(pretrained)}"
        )
    if pretrained == wanted or weight.shape[:1] + weight.shape[2:] != init.shape[:1] + init.shape[2:]:
        return weight  # nothing to rearrange, or a shape mismatch that `load_strict` reports
    out = init.clone()
    new = []
    for i, band in enumerate(wanted):
        if band in pretrained:
            out[:, i] = weight[:, pretrained.index(band)]
        else:
            new.append(band)
    if new:
        warnings.warn(
            f"band(s) {', '.join(new)} are not among the pretrained bands {', '.join(pretrained)}; "
            "their input weights start from random values and need training",
            NewBandWarning,
            stacklevel=3,
        )
    return out


def state_mismatch(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> str:
    """What keeps `given` from having exactly the names and shapes of `expected`; "" if nothing.

    Lists missing names, unexpected names and shape mismatches, five of each at most.
    """
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        f"{k} {tuple(given[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    return "; ".join(problems)


def load_strict(model: nn.Module, state: Mapping[str, Tensor], source: str, *, assign: bool = False) -> None:
    """Load `state` into `model`, requiring every key and shape to match exactly.

    Args:
        model: The module.
        state: Its tensors.
        source: What they come from, for errors.
        assign: Take the tensors themselves (cast to the module's dtypes) instead of copying them into
            the module's: for a module built on the meta device. Raises `CheckpointError` if some
            tensor of the module (a buffer the file does not hold) would stay on the meta device.

    Raises:
        CheckpointError: Listing missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    problems = state_mismatch(own, state)
    if problems:
        raise CheckpointError(f"{source} does not fit the architecture; {problems}")
    if not assign:
        model.load_state_dict(state, strict=True)
        return
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True, assign=True)
    empty = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if empty:
        raise CheckpointError(
            f"{source}: {', '.join(empty[:3])} of {type(model).__name__} not set by the file"
        )
