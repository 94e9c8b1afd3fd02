"""Test-time augmentation: a runner whose output is the mean class probability over transforms of each tile.

Each batch of tiles is run once per transform (``flips``: as it is, mirrored left-right, upside down,
and both, 4 passes; ``d4``: the 4 rotations by quarter turns, each also mirrored, 8 passes), each
output is transformed back, and the softmax probabilities are averaged. The runner returns their
logarithm, so the blending of overlapping tiles and every output stay as they are (softmax of the log
of probabilities that sum to 1 gives them back). Memory is that of one pass plus the running sum;
time is the number of passes times the model's. `augmented` does it for any tile function, one whose
logits hold several adapters' classes side by side included (`geoadapters.inference.set_runner`).
"""

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import torch

from geoadapters.config import AdapterConfig
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

TileFunction = Callable[[npt.NDArray[np.float32], SceneMetadata | None], torch.Tensor]


def augmented(
    run: TileFunction,
    raw: npt.NDArray[np.float32],
    scene: SceneMetadata | None,
    mode: str,
    groups: Sequence[int] | None = None,
) -> torch.Tensor:
    """Log of the mean probabilities (B, K, H, W) of `run` over the transforms of `mode` of tiles (H == W).

    `groups`: the sizes of the runs of channels that are one softmax each (several adapters' classes);
    None: all K channels are one.
    """
    total: torch.Tensor | None = None
    for turns, mirror in TRANSFORMS[mode]:
        tiles = np.flip(raw, -1) if mirror else raw
        tiles = np.ascontiguousarray(np.rot90(tiles, turns, axes=(-2, -1)))
        logits = run(tiles, scene).double()
        parts = [logits] if groups is None else torch.split(logits, list(groups), dim=1)
        probabilities = torch.cat([torch.softmax(part, dim=1) for part in parts], dim=1)
        probabilities = torch.rot90(probabilities, -turns, dims=(-2, -1))
        if mirror:
            probabilities = torch.flip(probabilities, (-1,))
        total = probabilities if total is None else total + probabilities
    assert total is not None
    mean = total / len(TRANSFORMS[mode])
    return torch.log(mean.clamp_min(torch.finfo(torch.float32).tiny)).float()


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
        self.device: torch.device = runner.device
        self.description = f"{runner.description}, tta {mode} ({len(TRANSFORMS[mode])} passes)"

    def __call__(self, raw: npt.NDArray[np.float32], scene: SceneMetadata | None = None) -> torch.Tensor:
        """Log of the mean probabilities (B, K, H, W) of the transformed tiles (B, C, H, W; H == W)."""
        return augmented(self.runner, raw, scene, self.mode)

    def fitting_batch(self, tile: int) -> int | None:
        """The wrapped runner's: the passes run one after the other."""
        return self.runner.fitting_batch(tile)
