"""The demo's pictures, drawn from the input scene and the prediction file `predict_raster` wrote.

Everything is read at display size (at most `DISPLAY` pixels a side) from the files, so the pictures
show exactly what the downloadable GeoTIFF holds, and memory does not grow with the scene.
"""

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.enums import Resampling

from geoadapters.raster.palette import class_colors

__all__ = ["DISPLAY", "Pictures", "class_colours", "draw", "legend_html"]

DISPLAY = 1024
_GREY = (128, 128, 128)
# Confidence ramp (viridis at 0, 0.5, 1) from 1/classes (a guess) to 1 (certain).
_RAMP = np.array([(68, 1, 84), (33, 145, 140), (253, 231, 37)], np.float64)

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Pictures:
    """RGBA pictures of one prediction (nodata transparent)."""

    rgb: Image
    classes: Image
    overlay: Image
    confidence: Image


def class_colours(classes: Sequence[str], colors: Sequence[str] = ()) -> list[tuple[int, int, int]]:
    """An RGB colour per class, those of the written class map (`geoadapters.raster.palette`)."""
    return [rgba[:3] for rgba in class_colors(classes, colors)]


def legend_html(classes: Sequence[str], colors: Sequence[str] = ()) -> str:
    """The class legend: a swatch and the name of each class."""
    items = "".join(
        f'<span style="margin-right:1.2em"><span class="swatch" style="display:inline-block;width:1em;'
        f'height:1em;vertical-align:middle;border:1px solid #888;background:rgb{colour}"></span> '
        f"{html.escape(name)}</span>"
        for name, colour in zip(classes, class_colours(classes, colors), strict=True)
    )
    return f'<div id="legend">{items}</div>'


def _display_shape(height: int, width: int) -> tuple[int, int]:
    factor = max(1.0, max(height, width) / DISPLAY)
    return max(1, round(height / factor)), max(1, round(width / factor))


def _stretch(bands: np.ma.MaskedArray, valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Each band from its 2nd to its 98th percentile over the valid pixels, to 0..255."""
    out = np.zeros(bands.shape, np.uint8)
    for i, band in enumerate(np.asarray(bands.filled(0), np.float64)):
        values = band[valid]
        if values.size == 0:
            continue
        low, high = np.percentile(values, [2, 98])
        scaled = (band - low) / (high - low) if high > low else np.zeros_like(band)
        out[i] = np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)
    return out


def _rgba(rgb: npt.NDArray[np.floating] | npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]) -> Image:
    """(H, W, 4) uint8 from (H, W, 3) colours, transparent where not valid."""
    alpha = np.where(valid, 255, 0)[..., None]
    return np.concatenate([np.round(rgb), alpha], axis=-1).astype(np.uint8)


def _rgb_bands(prediction: rasterio.DatasetReader) -> list[int]:
    """The scene's band numbers of red, green and blue, as the prediction resolved them (its tags)."""
    tags = prediction.tags()
    names = json.loads(tags["input_bands"])
    numbers = json.loads(tags["source_bands"])
    if all(b in names for b in ("RED", "GREEN", "BLUE")):
        return [numbers[names.index(b)] for b in ("RED", "GREEN", "BLUE")]
    return [numbers[min(i, len(numbers) - 1)] for i in range(3)]


def draw(
    scene: str | Path,
    prediction: str | Path,
    probabilities: str | Path,
    classes: Sequence[str],
    colors: Sequence[str] = (),
) -> Pictures:
    """The RGB composite, class map, overlay and confidence (max class probability) of a prediction.

    Args:
        scene: The input scene.
        prediction: The class map `predict_raster` wrote for it (uint8, nodata 255).
        probabilities: The probability file it wrote beside (``probabilities=True``: uint8 percent per
            class, nodata 255).
        classes: Class names in value order.
        colors: The adapter's class colours (``#rrggbb``), if it has them (see `class_colours`).
    """
    with rasterio.open(prediction) as pred:
        shape = _display_shape(pred.height, pred.width)
        bands = _rgb_bands(pred)
        labels = pred.read(1, out_shape=shape, resampling=Resampling.nearest)
        predicted = labels != pred.nodata
    with rasterio.open(probabilities) as proba:
        percent = proba.read(out_shape=(proba.count, *shape), resampling=Resampling.nearest)
        chances = np.where(percent == proba.nodata, np.nan, percent / 100.0)
    with rasterio.open(scene) as src:
        rgb = src.read(bands, out_shape=(3, *shape), resampling=Resampling.average, masked=True)
    seen = ~np.asarray(np.ma.getmaskarray(rgb).any(axis=0))
    colours = np.array([*class_colours(classes, colors), _GREY], np.float64)
    index = np.where(predicted, labels, len(classes)).astype(np.int64)
    painted = colours[np.clip(index, 0, len(classes))]
    composite = _stretch(rgb, seen).transpose(1, 2, 0).astype(np.float64)
    # class 0 (the background of most tasks) stays clear in the overlay
    tint = (predicted & (index > 0))[..., None]
    overlay = np.where(tint, 0.45 * composite + 0.55 * painted, composite)
    certain = np.nan_to_num(chances.max(axis=0), nan=0.0)
    guess = 1 / len(classes)
    level = np.clip((certain - guess) / (1 - guess), 0, 1) * (len(_RAMP) - 1)
    lower = np.minimum(level.astype(np.int64), len(_RAMP) - 2)
    ramp = _RAMP[lower] + (level - lower)[..., None] * (_RAMP[lower + 1] - _RAMP[lower])
    return Pictures(
        rgb=_rgba(composite, seen),
        classes=_rgba(painted, predicted),
        overlay=_rgba(overlay, seen | predicted),
        confidence=_rgba(ramp, predicted),
    )
