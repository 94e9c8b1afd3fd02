"""The colours of classes, defined once: written class maps' colour tables, the demo, its legends.

A class takes the adapter's colour (``geoadapter.json``: ``{"name": ..., "color": "#rrggbb"}``), else
the colour of its common name (water is blue, burn scars are red), else one of a qualitative palette.
"""

from collections.abc import Sequence

__all__ = ["class_colors"]

RGBA = tuple[int, int, int, int]

# Colours of common class names (lower case).
_NAMED: dict[str, tuple[int, int, int]] = {
    "water": (30, 110, 230),
    "not water": (225, 220, 200),
    "no water": (225, 220, 200),
    "land": (225, 220, 200),
    "background": (225, 220, 200),
    "cloud": (250, 250, 250),
    "cloud shadow": (90, 90, 90),
    "burn scar": (220, 50, 20),
    "burn scars": (220, 50, 20),
    "not burned": (225, 220, 200),
}
# A qualitative palette (ColorBrewer Set1) for the other classes.
_PALETTE = [(228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0),
            (255, 255, 51), (166, 86, 40), (247, 129, 191), (153, 153, 153)]  # fmt: skip


def class_colors(classes: Sequence[str], colors: Sequence[str] = ()) -> list[RGBA]:
    """The RGBA colour of each class, in class order (see the module)."""
    if colors:
        return [(int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16), 255) for c in colors]
    return [(*_NAMED.get(name.lower(), _PALETTE[i % len(_PALETTE)]), 255) for i, name in enumerate(classes)]
