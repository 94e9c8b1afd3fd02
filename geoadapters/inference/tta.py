"""Test-time augmentation: a runner whose output is the mean class probability over transforms of each tile.

Each batch of tiles is run once per transform (``flips``: as it is, mirrored left-right, upside down,
and both, 4 passes; ``d4``: the 4 rotations by quarter turns, each also mirrored, 8 passes), each
output is transformed back, and the softmax probabilities are averaged. The runner returns their
logarithm, so the blending of overlapping tiles and every output stay as they are (softmax of the log
of probabilities that sum to 1 gives them back). Memory is that of one pass plus the running sum;
time is the number of passes times the model's. The outputs are averaged in float64 numpy on the host,
whatever the runner's array library and device, and blended there. `augmented` does it for any tile
function, one whose logits hold several adapters' classes side by side included
(`geoadapters.inference.set_runner`).
"""

from collections.abc import Callable, Sequence
from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np
import numpy.typing as npt

from geoadapters.config import AdapterConfig
from geoadapters.inference.blending import to_host
from geoadapters.inference.request import TTA_MODES
from geoadapters.inference.runners import Runner
from geoadapters.specs import SceneMetadata

__all__ = ["TRANSFORMS", "AugmentedRunner", "augmented"]

# (quarter turns, mirrored left-right first) of each mode
TRANSFORMS: dict[str, tuple[tuple[int, bool], ...]] = {
    "flips": ((0, False), (0, True), (2, True), (2, False)),
    "d4": tuple((turns, mirror) for turns in range(4) for mirror in (False, True)),
}
assert set(TRANSFORMS) == set(TTA_MODES)

TileFunction = Callable[[npt.NDArray[np.float32], SceneMetadata | None], Any]


def augmented(
    run: TileFunction,
    raw: npt.NDArray[np.float32],
    scene: SceneMetadata | None,
    mode: str,
    groups: Sequence[int] | None = None,
) -> npt.NDArray[np.float32]:
    """Log of the mean probabilities (B, K, H, W) of `run` over the transforms of `mode` of tiles (H == W).

    `run` returns logits in any array library on any device (they are brought to the host). `groups`:
    the sizes of the runs of channels that are one softmax each (several adapters' classes); None: all
    K channels are one.
    """
    total = None
    for turns, mirror in TRANSFORMS[mode]:
        tiles = np.flip(raw, -1) if mirror else raw
        tiles = np.ascontiguousarray(np.rot90(tiles, turns, axes=(-2, -1)))
        logits = to_host(run(tiles, scene)).astype(np.float64)
        parts = [logits] if groups is None else np.split(logits, np.cumsum(groups)[:-1], axis=1)
        shifted = [np.exp(part - part.max(axis=1, keepdims=True)) for part in parts]
        probabilities = np.concatenate([e / e.sum(axis=1, keepdims=True) for e in shifted], axis=1)
        probabilities = np.rot90(probabilities, -turns, axes=(-2, -1))
        if mirror:
            probabilities = np.flip(probabilities, -1)
        total = probabilities if total is None else total + probabilities
    assert total is not None
    mean = total / len(TRANSFORMS[mode])
    out: npt.NDArray[np.float32] = np.log(np.maximum(mean, np.finfo(np.float32).tiny)).astype(np.float32)
    return out


class AugmentedRunner:
    """A runner that averages another's class probabilities over the transforms of `mode` (see module).

    Args:
        runner: The runner of one pass.
        mode: ``flips`` or ``d4``.

    Raises:
        ValueError: An unknown mode.
    """

    def __init__(self, runner: Runner, mode: str) -> None:
        if mode not in TRANSFORMS:
            raise ValueError(f"tta must be one of {', '.join(TRANSFORMS)}, got {mode!r}")
        self.runner = runner
        self.mode = mode
        self.config: AdapterConfig = runner.config
        self.xp: Any = xp_numpy
        self.device: Any = "cpu"
        self.description = f"{runner.description}, tta {mode} ({len(TRANSFORMS[mode])} passes)"

    def __call__(
        self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None
    ) -> npt.NDArray[np.float32]:
        """Log of the mean probabilities (B, K, H, W) of the transformed tiles (B, C, H, W; H == W)."""
        return augmented(self.runner, raw, scene, self.mode)

    def fitting_batch(self, tile: int) -> int | None:
        """The wrapped runner's: the passes run one after the other."""
        return self.runner.fitting_batch(tile)
