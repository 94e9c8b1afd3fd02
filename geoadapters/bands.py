"""Spectral band names: one canonical vocabulary, the spellings users and files use, wavelengths.

Canonical names follow TerraTorch's `HLSBands` (BLUE, NIR_NARROW, SWIR_1, ...), so configs written for
the reference implementation read the same here. Sentinel-2 band ids (B02, B8A), STAC common names
(`nir08`, `swir16`) and spellings without underscores (SWIR1, REDEDGE1) resolve to them.
Landsat band ids are not aliases: B05 is NIR on Landsat 8 and red edge on Sentinel-2.
"""

import difflib
import re
from collections.abc import Sequence

from geoadapters.errors import BandError

__all__ = ["BANDS", "SENSOR_ORDERS", "band_indices", "canonical", "canonical_bands", "wavelength"]

# Central wavelengths in micrometres. Optical values are Sentinel-2 MSI centres as Clay v1's
# ``configs/metadata.yaml`` lists them, the ones Clay v1 was pretrained with and the PEFT paper passes;
# VV/VH are that file's placeholder values for Sentinel-1, not physical wavelengths (C-band is 5.5 cm).
BANDS: dict[str, float] = {
    "COASTAL_AEROSOL": 0.443,
    "BLUE": 0.493,
    "GREEN": 0.56,
    "RED": 0.665,
    "RED_EDGE_1": 0.704,
    "RED_EDGE_2": 0.74,
    "RED_EDGE_3": 0.783,
    "NIR_BROAD": 0.842,
    "NIR_NARROW": 0.865,
    "WATER_VAPOR": 0.94,
    "CIRRUS": 1.375,
    "SWIR_1": 1.61,
    "SWIR_2": 2.19,
    "THERMAL_INFRARED_1": 10.9,
    "THERMAL_INFRARED_2": 12.0,
    "VV": 3.5,
    "VH": 4.0,
}

# The band orders files of a given band count most often have, for a guess a person confirms (the demo's
# band mapping); never applied without asking. Sentinel-2 L1C keeps all 13 bands, L2A drops B10; HLS
# L30 (Landsat 8/9 harmonised) has 10; Prithvi's HLS subset 6; a 4-band file is most often Sentinel-2's
# or PlanetScope's 10 m blue, green, red, NIR; a 3-band file an RGB picture.
SENSOR_ORDERS: dict[int, tuple[str, tuple[str, ...]]] = {
    13: ("Sentinel-2 L1C", ("COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2",
                            "RED_EDGE_3", "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "CIRRUS", "SWIR_1",
                            "SWIR_2")),
    12: ("Sentinel-2 L2A", ("COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2",
                            "RED_EDGE_3", "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "SWIR_1", "SWIR_2")),
    10: ("HLS L30", ("COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2", "CIRRUS",
                     "THERMAL_INFRARED_1", "THERMAL_INFRARED_2")),
    6: ("HLS (Prithvi's six bands)", ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")),
    4: ("blue, green, red, NIR", ("BLUE", "GREEN", "RED", "NIR_BROAD")),
    3: ("RGB", ("RED", "GREEN", "BLUE")),
}  # fmt: skip

# Sentinel-2 MSI band ids (zero padding optional: B2 == B02).
_SENTINEL2_IDS = {
    "1": "COASTAL_AEROSOL",
    "2": "BLUE",
    "3": "GREEN",
    "4": "RED",
    "5": "RED_EDGE_1",
    "6": "RED_EDGE_2",
    "7": "RED_EDGE_3",
    "8": "NIR_BROAD",
    "8A": "NIR_NARROW",
    "9": "WATER_VAPOR",
    "10": "CIRRUS",
    "11": "SWIR_1",
    "12": "SWIR_2",
}

# STAC `eo:common_name` values and other frequent spellings, compared without case and underscores.
_ALIASES = {
    "COASTAL": "COASTAL_AEROSOL",
    "NIR": "NIR_BROAD",
    "NIR08": "NIR_NARROW",
    "NIR09": "WATER_VAPOR",
    "SWIR16": "SWIR_1",
    "SWIR22": "SWIR_2",
    "LWIR11": "THERMAL_INFRARED_1",
    "LWIR12": "THERMAL_INFRARED_2",
    "RE1": "RED_EDGE_1",
    "RE2": "RED_EDGE_2",
    "RE3": "RED_EDGE_3",
    "WV": "WATER_VAPOR",
}

_SENTINEL2_ID = re.compile(r"^B0?(\d{1,2}A?)$")


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.upper())


_LOOKUP = {_squash(name): name for name in BANDS} | {_squash(k): v for k, v in _ALIASES.items()}


def canonical(name: str) -> str:
    """Return the canonical name of a band spelling.

    Args:
        name: A canonical name, Sentinel-2 id (``B8A``), STAC common name (``swir16``) or a spelling
            of a canonical name without underscores (``SWIR1``); case does not matter.

    Raises:
        BandError: The name is not a known band.
    """
    key = _squash(str(name))
    if key in _LOOKUP:
        return _LOOKUP[key]
    match = _SENTINEL2_ID.match(key)
    if match and match.group(1) in _SENTINEL2_IDS:
        return _SENTINEL2_IDS[match.group(1)]
    close = difflib.get_close_matches(str(name).upper(), list(BANDS), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise BandError(f"unknown band {name!r}{hint} Known bands: {', '.join(BANDS)}.")


def canonical_bands(names: Sequence[str]) -> tuple[str, ...]:
    """Canonicalise a band list and reject duplicates."""
    bands = tuple(canonical(name) for name in names)
    repeated = sorted({band for band in bands if bands.count(band) > 1})
    if repeated:
        raise BandError(f"band list names {', '.join(repeated)} more than once: {list(names)}")
    return bands


def band_indices(available: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Positions in `available` of each band in `wanted`, by canonical name.

    Raises:
        BandError: A wanted band is not available.
    """
    have = canonical_bands(available)
    need = canonical_bands(wanted)
    missing = [band for band in need if band not in have]
    if missing:
        raise BandError(
            f"missing band(s) {', '.join(missing)}: the input has {', '.join(have)}; "
            f"the model needs {', '.join(need)}."
        )
    return [have.index(band) for band in need]


def wavelength(name: str) -> float:
    """Central wavelength of a band in micrometres."""
    return BANDS[canonical(name)]
