"""Metadata the -TL Prithvi models and Clay take, encoded as the paper encodes it, and batching it.

Encodings follow the paper's datasets (IBM/peft-geofm @ 5fe258d, ``src/peft_geofm/datasets/utils.py``):

- Prithvi -TL: ``temporal_coords`` = ``[[year, day of year - 1]]`` (1, 2); ``location_coords`` =
  ``[lat, lon]`` in degrees.
- Clay: ``time`` = sin/cos of ISO week x 2pi/52, then of hour x 2pi/24; ``latlon`` = sin/cos of
  latitude, then of longitude (radians); ``gsd`` in metres; ``waves`` = the bands' central
  wavelengths in micrometres. ``gsd`` and ``waves`` are one value per dataset, so a batch carries
  the first sample's (the paper's ``clay_collate_fn``).
"""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

import torch
from torch.utils.data import default_collate

from geoadapters.bands import wavelength

__all__ = ["METADATA_KINDS", "MetadataKind", "collate", "encode_metadata"]

# The paper's datamodule variants: which metadata a sample carries.
MetadataKind = Literal["no_metadata", "prithvi_tl", "clay_gw", "clay_tlgw"]
METADATA_KINDS: tuple[str, ...] = get_args(MetadataKind)

_PER_DATASET = ("gsd", "waves")


def encode_metadata(
    kind: MetadataKind,
    *,
    date: datetime | None,
    latlon: tuple[float, float] | None,
    bands: Sequence[str],
    gsd: float | None,
) -> dict[str, Any]:
    """The metadata entries of one sample.

    Args:
        kind: Which model's metadata to emit.
        date: Acquisition time, if the dataset has one (it is left out otherwise, as in the paper).
        latlon: Centre latitude and longitude in degrees, if the dataset has them.
        bands: Canonical names of the sample's bands, in order.
        gsd: Ground sample distance in metres.
    """
    out: dict[str, Any] = {}
    if kind == "prithvi_tl":
        if date is not None:
            out["temporal_coords"] = torch.tensor(
                [[date.year, date.timetuple().tm_yday - 1]], dtype=torch.float32
            )
        if latlon is not None:
            out["location_coords"] = torch.tensor(latlon, dtype=torch.float32)
    elif kind in ("clay_gw", "clay_tlgw"):
        if kind == "clay_tlgw" and date is not None:
            week = date.isocalendar().week * 2 * math.pi / 52
            hour = date.hour * 2 * math.pi / 24
            out["time"] = torch.tensor([math.sin(week), math.cos(week), math.sin(hour), math.cos(hour)])
        if kind == "clay_tlgw" and latlon is not None:
            lat, lon = (math.radians(v) for v in latlon)
            out["latlon"] = torch.tensor([math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)])
        out["gsd"] = float(gsd) if gsd is not None else None
        out["waves"] = torch.tensor([wavelength(band) for band in bands])
    return out


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch; ``gsd`` and ``waves`` are taken once, from the first sample."""
    batch: dict[str, Any] = default_collate(
        [{k: v for k, v in s.items() if k not in _PER_DATASET} for s in samples]
    )
    for key in _PER_DATASET:
        if key in samples[0]:
            batch[key] = samples[0][key]
    return batch
