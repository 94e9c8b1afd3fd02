"""Where inference runs: the device a user asks for, the CPU's cores, how many tiles fit a GPU.

Torch-free: each runtime says whether it has a CUDA device (torch, or onnxruntime and the CUDA driver).
"""

import ctypes
import functools
import os
from pathlib import Path

from geoadapters.errors import DeviceError

__all__ = ["batch_for_memory", "cores", "cuda_devices", "native_bf16", "resolve_device"]

# CPU flags of native bf16 arithmetic (Linux names): AVX512-BF16 (Intel Cooper Lake and later, AMD
# Zen 4 and later), AMX-BF16 (Intel Sapphire Rapids and later).
_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def resolve_device(device: str | None, cuda: bool) -> str:
    """For None or "auto": ``cuda`` where the runtime has a CUDA device (`cuda`), else ``cpu``; else `device`.

    Raises:
        DeviceError: CUDA is asked for and there is no CUDA device.
    """
    if device is None or device == "auto":
        return "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise DeviceError(f"device {device!r} was asked for, but there is no CUDA device: use cpu")
    return device


def cuda_devices() -> int:
    """CUDA devices the driver shows this process (``CUDA_VISIBLE_DEVICES`` applies); 0 without a driver."""
    try:
        driver = ctypes.CDLL("libcuda.so.1" if os.name == "posix" else "nvcuda.dll")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def batch_for_memory(free: int, fixed: int, per_tile: int, most: int = 64) -> int:
    """Tiles per batch whose memory, `fixed` + n x `per_tile` bytes, fits in 80 % of `free` bytes.

    At least 1, at most `most`: beyond some tens of tiles a GPU is busy and larger batches only cost
    memory.
    """
    return max(1, min(most, (int(0.8 * free) - fixed) // max(per_tile, 1)))


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (its flags, from /proc/cpuinfo; False where unknown).

    Without such units bf16 matmuls are emulated and about 100x slower than fp32; with them they are
    several times faster.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    lines = (line for line in text.splitlines() if line.startswith("flags"))
    flags = next((line.split(":", 1)[1].split() for line in lines), [])
    return bool(_BF16_FLAGS & set(flags))
