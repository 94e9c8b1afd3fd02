"""Where inference runs: the device a user asks for, the CPU's cores, how many tiles fit a GPU."""

import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from geoadapters.errors import DeviceError

__all__ = ["batch_for_memory", "cores", "measured_batch", "resolve_device"]


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


def measured_batch(
    run: Callable[[npt.NDArray[np.float32]], object], bands: int, tile: int, device: torch.device
) -> int:
    """Tiles of `tile` px per batch of `run` that fit in 80 % of the free CUDA memory (`batch_for_memory`).

    The memory of a batch is the peak of a forward pass of one tile and of two, measured on `device`.
    """
    peaks = []
    for n in (1, 2):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        run(np.zeros((n, bands, tile, tile), np.float32))
        peaks.append(torch.cuda.max_memory_allocated(device) - before)
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    per_tile = max(peaks[1] - peaks[0], 1)
    return batch_for_memory(free, peaks[0] - per_tile, per_tile)
