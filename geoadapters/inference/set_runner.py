"""`SetRunner`: several adapters of one `AdapterSet` on the same tiles, their logits side by side.

A tiled prediction with several adapters reads each tile once, with nodata pixels left as NaN and
no scaling (`NAN_FILL`); the runner then fills and scales the tile once per distinct input contract
(`geoadapters.inference.tiling.tile_fill`: the same values a single adapter's run would have read),
normalises it once per contract, and runs the adapters of that contract in the passes that
`AdapterSet.passes` plans once per runner: linear probes, LoRA and VPT adapters batched through one
pass of the base encoder (one per VPT prompt count), the others on their own adapted encoder. The
logits of the adapters are concatenated along the class axis, so that the blending of overlapping
tiles (linear per channel) serves them all at once; `groups` says how many channels each adapter has.
"""

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import array_api_compat.numpy as xp_numpy
import array_api_compat.torch as xp_torch
import numpy as np
import numpy.typing as npt
import torch

from geoadapters.config import AdapterConfig
from geoadapters.errors import AdapterError
from geoadapters.inference.devices import resolve_device
from geoadapters.inference.tiling import tile_fill
from geoadapters.inference.torch_runner import (
    autocast_dtype,
    frames_input,
    measured_batch,
    precision_context,
    scene_inputs,
)
from geoadapters.inference.tta import augmented
from geoadapters.specs import SceneMetadata

if TYPE_CHECKING:
    from geoadapters.adapter_set import AdapterSet, Passes

__all__ = ["SetRunner"]


@dataclasses.dataclass(frozen=True)
class _Contract:
    """Adapters that take identically prepared tiles, and how raw tiles become theirs."""

    names: tuple[str, ...]
    fill: npt.NDArray[np.float32]
    factor: float
    passes: "Passes"


class SetRunner:
    """Raw tiles in (nodata as NaN), the logits of several adapters out, concatenated along classes.

    Args:
        adapters: The resident adapters; it is put in eval mode and moved to `device`.
        names: The adapters to run, in the order of their logits.
        device: ``cpu``, ``cuda``, ``cuda:N``; None or "auto" for CUDA where it exists.
        precision: ``fp32``; ``fp16`` or ``bf16`` (autocast) on CUDA only.
        scale: Factor from the file's values to the units the adapters normalise (`PredictOptions.scale`).
        tta: ``flips`` or ``d4``: each adapter's probabilities averaged over the tile's transforms.
        batched: LoRA and VPT adapters batched through one pass of the base (`AdapterSet.passes`);
            False: each runs its own adapted encoder (benchmarks compare the two).

    Attributes:
        configs: The adapters' configs, in the order of `names`.
        groups: Logit channels (classes) of each adapter.
        device: Where the logits come out (the host with `tta`).
        xp: The array namespace of the logits (torch, or numpy with `tta`).

    Raises:
        AdapterError: No adapter, an unknown name, or adapters of different frames.
        DeviceError: An unknown precision, or one the device lacks.
    """

    def __init__(
        self,
        adapters: "AdapterSet",
        names: Sequence[str],
        device: str | None = None,
        precision: str = "fp32",
        *,
        scale: float | None = None,
        tta: str | None = None,
        batched: bool = True,
    ) -> None:
        if not names:
            raise AdapterError("a set runner needs at least one adapter")
        unknown = [n for n in names if n not in adapters.models]
        if unknown:
            raise AdapterError(f"no adapter named {unknown[0]!r} in this set")
        self._device = torch.device(resolve_device(device, torch.cuda.is_available()))
        self.adapters = adapters.eval().to(self._device)
        self.names = tuple(names)
        self.precision = precision
        self._dtype = autocast_dtype(precision, self._device)
        self.configs: tuple[AdapterConfig, ...] = tuple(adapters[n].config for n in self.names)
        self.groups = tuple(len(c.classes) for c in self.configs)
        if len({c.frames for c in self.configs}) > 1:
            raise AdapterError(f"adapters {', '.join(self.names)} take different numbers of frames")
        self._frames = self.configs[0].frames
        self.scale, self.tta, self.batched = scale, tta, batched
        by_contract: dict[object, list[str]] = {}
        for name, config in zip(self.names, self.configs, strict=True):
            by_contract.setdefault((config.input, config.padding), []).append(name)
        self._contracts = [
            _Contract(
                tuple(group),
                *tile_fill(adapters[group[0]].config, scale),
                adapters.passes(group, batched=batched),
            )
            for group in by_contract.values()
        ]
        passes = f", tta {tta}" if tta else ""
        self.description = (
            f"torch {precision} on {self._device}{passes}, {len(self.names)} adapters on one base"
        )
        self._fitted: dict[int, int] = {}
        # where the logits come out: torch tensors on the device, or host numpy after TTA's averaging
        self.xp: Any = xp_numpy if tta else xp_torch
        self.device: Any = "cpu" if tta else self._device

    def select(
        self, names: Sequence[str], *, scale: float | None = None, tta: str | None = None
    ) -> "SetRunner":
        """A runner of some of these adapters (the same resident models), with this `scale` and `tta`."""
        return SetRunner(
            self.adapters,
            names,
            str(self._device),
            self.precision,
            scale=scale,
            tta=tta,
            batched=self.batched,
        )

    def fill(self) -> npt.NDArray[np.float32]:
        """The fill tiles are read with: NaN for every band (the runner fills per contract)."""
        return np.full(len(self._contracts[0].fill), np.nan, np.float32)

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> Any:
        """Float32 logits (B, all classes, H, W) of raw tiles (B, [T x] C, H, W), NaN: no data.

        Torch tensors on the device; numpy arrays on the host with `tta` (see `xp` and `device`).
        """
        if self.tta is not None:
            return augmented(self._logits, raw, scene, self.tta, self.groups)
        return self._logits(raw, scene)

    def _logits(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None) -> torch.Tensor:
        missing = np.isnan(raw)
        out: dict[str, torch.Tensor] = {}
        for contract in self._contracts:
            tiles = np.where(missing, contract.fill[None, :, None, None], raw) * np.float32(contract.factor)
            x = torch.from_numpy(np.ascontiguousarray(tiles, dtype=np.float32)).to(self._device)
            first = self.adapters[contract.names[0]]
            metadata = scene_inputs(first, scene, len(raw), self._device)
            with torch.inference_mode(), precision_context(self._device, self._dtype):
                out |= contract.passes(first.normalize(frames_input(x, self._frames)), **metadata)
        return torch.cat([out[name].float() for name in self.names], dim=1)

    def fitting_batch(self, tile: int) -> int | None:
        """Tiles per batch that fit in 80 % of the free CUDA memory (`measured_batch`); None off CUDA."""
        if self._device.type != "cuda":
            return None
        if tile not in self._fitted:
            bands = len(self.configs[0].input.bands) * self._frames
            self._fitted[tile] = measured_batch(self, bands, tile, self._device)
        return self._fitted[tile]
