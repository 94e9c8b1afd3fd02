"""The paper's augmentation and batch preprocessing (arXiv 2504.17397, section 4).

- `D4`: one of the 8 flips and rotations of the square, drawn per training sample and applied to
  the image and its mask together (albumentations' ``D4`` in the paper; val and test get none).
- `preprocess`: per-band normalisation with the dataset's mean/std, applied to whole batches on the
  device after transfer, then reBEN's reflect padding from 120 to 128 pixels with the mask padded
  as ignored (torchgeo ``BaseDataModule.aug`` in the paper).
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from geoadapters import InputSpec
from training.datasets.base import IGNORE_INDEX

__all__ = ["D4", "normalize", "preprocess"]


class D4:
    """A uniformly random element of the dihedral group of the square, on ``image`` and ``mask``.

    Element ``k`` rotates by ``k % 4`` quarter turns, after a left-right flip when ``k >= 4``.
    Draws come from torch's global generator, so seeding torch (Lightning's ``seed_everything``)
    makes them reproducible.
    """

    @staticmethod
    def apply(tensor: Tensor, k: int) -> Tensor:
        """Element `k` (0-7) of D4 on the last two dimensions of `tensor`."""
        if not 0 <= k < 8:
            raise ValueError(f"D4 elements are numbered 0-7, got {k}")
        if k >= 4:
            tensor = tensor.flip(-1)
        return tensor.rot90(k % 4, dims=(-2, -1))

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """The sample with one random element applied to its image and mask."""
        k = int(torch.randint(8, ()).item())
        out = dict(sample)
        for key in ("image", "mask"):
            if key in out:
                out[key] = self.apply(out[key], k).contiguous()
        return out


def normalize(image: Tensor, spec: InputSpec) -> Tensor:
    """``(image - mean) / std`` per band of a (B, C, H, W) batch."""
    mean = torch.tensor(spec.mean, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    return (image - mean) / std


def preprocess(batch: dict[str, Any], spec: InputSpec, pad_to: int | None = None) -> dict[str, Any]:
    """Normalise a batch's images and, with `pad_to`, reflect-pad them at the bottom and right.

    Args:
        batch: A collated batch with ``image`` (B, C, H, W) and optionally ``mask`` (B, H, W).
        spec: Bands and statistics of the batch's images.
        pad_to: Square size to pad to; the mask is padded with `IGNORE_INDEX`.
    """
    out = dict(batch)
    out["image"] = normalize(batch["image"], spec)
    if pad_to is not None:
        height, width = out["image"].shape[-2:]
        pad = (0, pad_to - width, 0, pad_to - height)
        out["image"] = F.pad(out["image"], pad, mode="reflect")
        if "mask" in out:
            out["mask"] = F.pad(out["mask"], pad, mode="constant", value=IGNORE_INDEX)
    return out
