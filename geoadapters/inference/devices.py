"""Where inference runs: the device a user asks for, the CPU's cores, how many tiles fit a GPU."""

import os

import torch

from geoadapters.errors import DeviceError

__all__ = ["batch_for_memory", "cores", "resolve_device"]


def resolve_device(device: str | None) -> str:
    """``cuda`` where a CUDA device exists and ``cpu`` otherwise for None or "auto"; else `device`.

    Raises:
        DeviceError: CUDA is asked for and there is no CUDA device.
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was asked for, but there is no CUDA device: use cpu")
    return device


def batch_for_memory(free: int, fixed: int, per_tile: int, most: int = 64) -> int:
    """Tiles per batch whose memory, `fixed` + n x `per_tile` bytes, fits in 80 % of `free` bytes.

    At least 1, at most `most`: beyond some tens of tiles a GPU is busy and larger batches only cost
    memory.
    """
    return max(1, min(most, (int(0.8 * free) - fixed) // max(per_tile, 1)))


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
