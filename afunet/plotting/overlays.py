"""Error overlays: where a segmentation is right, where it claims too much, where it misses."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

# Okabe-Ito: orange and sky blue stay distinct for deuteranopes and protanopes, and both stand
# out from the light-grey true positives and the darkened fundus behind them.
OVERLAY_COLORS = {
    "tp": "#EBEBEB",  # light grey: vessel found
    "fp": "#E69F00",  # orange: vessel claimed where there is none
    "fn": "#56B4E9",  # sky blue: vessel missed
}
OVERLAY_LABELS = {"tp": "True positive", "fp": "False positive", "fn": "False negative"}
OVERLAY_LEGEND = [
    Patch(facecolor=OVERLAY_COLORS[k], edgecolor="0.3", linewidth=0.5, label=OVERLAY_LABELS[k])
    for k in ("tp", "fp", "fn")
]
# The fundus shows through at this brightness, dim enough that every class colour pops.
BACKGROUND_GAIN = 0.45


def to_gray(image) -> np.ndarray:
    """A float (H, W) image in [0, 1] from a grey or RGB image (uint8 or float in [0, 1])."""
    a = np.asarray(image)
    a = a.astype(np.float64) / 255.0 if np.issubdtype(a.dtype, np.integer) else a.astype(float)
    if a.ndim == 3:
        # The green channel carries the vessel contrast of fundus photographs; plain luminance
        # would mix in the nearly flat red channel.
        a = a[..., 1] if a.shape[-1] >= 3 else a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {np.shape(image)}")
    lo, hi = np.percentile(a, (0.5, 99.5))
    return np.clip((a - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(a)


def error_overlay(image, pred, target, fov=None) -> np.ndarray:
    """(H, W, 3) float RGB of each pixel's confusion class over a darkened grey copy of the image.

    TP light grey, FP orange, FN sky blue (Okabe-Ito, colour-blind safe; see ``OVERLAY_LEGEND``);
    nothing is coloured outside ``fov`` (not evaluated). ``image``: grey or RGB, uint8 or [0, 1].
    """
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    gray = to_gray(image)
    if not (pred.shape == target.shape == gray.shape):
        raise ValueError(
            f"shapes differ: image {gray.shape}, pred {pred.shape}, target {target.shape}"
        )
    inside = np.ones_like(target) if fov is None else np.asarray(fov, bool)
    out = np.repeat((BACKGROUND_GAIN * gray)[..., None], 3, axis=2)
    for key, where in (
        ("tp", pred & target),
        ("fp", pred & ~target),
        ("fn", ~pred & target),
    ):
        out[where & inside] = to_rgb(OVERLAY_COLORS[key])
    return out


def crop(array: np.ndarray, box) -> np.ndarray:
    """The (y0, x0, h, w) window of an (H, W, ...) array."""
    y0, x0, h, w = (int(v) for v in box)
    return array[y0 : y0 + h, x0 : x0 + w]
