"""Automatic choice of the zoom boxes of Figure 2 (red: complex structure, green: thin vessels)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from afunet.topology import thin_vessel_mask

BOX_RULE = """\
Zoom boxes are chosen automatically, never by hand:
1. Candidate windows are squares of side `size` (default: 1/6 of the image's shorter side),
   placed on a grid with stride size/4 (plus the last row and column flush with the image edge),
   lying fully inside the image with at least half of their area inside the field of view.
2. Per pixel inside the FOV, each model is correct (prediction == ground truth) or not; the
   disagreement is the variance of correctness across models, p(1 - p) with p the fraction
   of models that are right (with a single model, its error 1 - correct is used instead).
3. green (thin vessels) = sum of the disagreement over the ground-truth vessel pixels of width
   <= 3 px (topology.thin_vessel_mask) in the window: where models differ most on small vessels.
4. red (complex structure) = sum of the disagreement over all FOV pixels in the window, times
   the number of branch points of the ground-truth skeleton in the window (skeleton pixels with
   >= 3 skeleton neighbours, adjacent ones merged into one): where models differ most at
   bifurcations and crossings.
5. worst = errors (false positives + false negatives, inside the FOV) of the focus model
   (AF-UNet by default) in the window minus those of the best other model in that window:
   where the paper's model falls furthest behind another one, the counterpart of the red and
   green boxes, where the paper shows it ahead. (Its raw error count would pick the optic
   disc, where every model errs most and AF-UNet often least.) Windows where the focus model
   errs no more than the best of the others score 0; with no other model, its errors count.
6. Boxes are picked greedily by score (ties: top-most, then left-most window), skipping any
   window overlapping a box already picked (non-maximum suppression). Red and green take turns
   (red 1, green 1, red 2, green 2, ...), so each kind gets its best window before the other
   kind's runners-up, and no red or green box overlaps another. Worst boxes do not overlap
   each other but may coincide with a red or green one (they are shown in their own figure).
   Windows scoring 0 are never picked, so a list can be shorter than asked for.
"""


def default_box_size(shape) -> int:
    """Side of the zoom windows: 1/6 of the image's shorter side (at least 8 px)."""
    return max(8, int(round(min(shape[:2]) / 6)))


def window_grid(shape, size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (ys, xs) of a stride grid of windows lying fully inside the image."""
    h, w = shape[:2]
    if size > min(h, w):
        raise ValueError(f"box size {size} exceeds the image ({h} x {w})")

    def axis(n: int) -> np.ndarray:
        starts = np.arange(0, n - size + 1, stride)
        return np.unique(np.r_[starts, n - size])  # last window flush with the edge

    return axis(h), axis(w)


def window_sums(values: np.ndarray, size: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over every window (len(ys), len(xs)) via a summed-area table."""
    sat = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    sat[1:, 1:] = np.cumsum(np.cumsum(values, axis=0, dtype=np.float64), axis=1)
    y0, x0 = ys[:, None], xs[None, :]
    y1, x1 = y0 + size, x0 + size
    sums = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    # Rounding removes the cancellation noise of the table: empty windows score exactly 0 and
    # equal windows tie exactly, so the tie-break (and the result) is the same on every machine.
    return np.round(sums, 9)


def branch_points(target: np.ndarray) -> np.ndarray:
    """Bool map with one pixel per branch point of the ground-truth skeleton."""
    skel = skeletonize(np.asarray(target, bool))
    neighbours = ndi.convolve(skel.astype(np.int32), np.ones((3, 3), np.int32), mode="constant")
    junction = skel & (neighbours - 1 >= 3)
    # A junction is often a clump of 2-4 adjacent pixels: count each clump once.
    labels, n = ndi.label(junction, structure=np.ones((3, 3)))
    out = np.zeros_like(junction)
    if n:
        centres = ndi.center_of_mass(junction, labels, range(1, n + 1))
        for cy, cx in centres:
            out[int(round(cy)), int(round(cx))] = True
    return out


def disagreement(preds: dict, target: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Per-pixel variance across models of correctness, p(1 - p), zero outside the FOV."""
    correct = np.stack([np.asarray(p, bool) == target for p in preds.values()])
    if len(correct) == 1:
        return (~correct[0] & fov).astype(np.float64)
    p = correct.mean(axis=0)
    return p * (1 - p) * fov


def excess_errors(preds: dict, target: np.ndarray, fov: np.ndarray, focus: str,
                  size: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Per window: the focus model's errors minus the fewest errors of any other model there.

    Errors are false positives and false negatives inside the FOV. With the focus model
    alone: its errors.
    """
    sums = {name: window_sums(((np.asarray(p, bool) != target) & fov).astype(np.float64),
                              size, ys, xs) for name, p in preds.items()}
    own = sums.pop(focus)
    return own - np.min(list(sums.values()), axis=0) if sums else own


def _pick(scores, ys, xs, size, n, taken) -> list[tuple[int, int, int, int]]:
    """Greedy non-maximum suppression: up to n best windows overlapping nothing in ``taken``."""
    flat = scores.ravel()
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    # Sort by score descending, then top-most, then left-most: deterministic under ties.
    order = np.lexsort((xx.ravel(), yy.ravel(), -flat))
    picked = []
    for i in order:
        if len(picked) == n or flat[i] <= 0:
            break
        y0, x0 = int(yy.ravel()[i]), int(xx.ravel()[i])
        if all(abs(y0 - ty) >= th or abs(x0 - tx) >= tw for ty, tx, th, tw in taken):
            box = (y0, x0, size, size)
            picked.append(box)
            taken.append(box)
    return picked


def choose_boxes(
    preds: dict[str, np.ndarray],
    target: np.ndarray,
    fov: np.ndarray | None = None,
    *,
    focus: str = "afunet",
    size: int | None = None,
    n_red: int = 1,
    n_green: int = 1,
    n_worst: int = 1,
    max_width: int = 3,
) -> dict[str, list[tuple[int, int, int, int]]]:
    """Choose Figure 2's zoom boxes by the fixed rule of ``BOX_RULE`` (printed by the notebook).

    Returns {"red", "green", "worst"}: lists of (y0, x0, h, w) ints, possibly shorter than asked for
    (zero-score windows are never chosen). ``focus`` is the model whose errors beyond the best
    other model's pick "worst".
    """
    if not preds:
        raise ValueError("choose_boxes needs at least one model's prediction")
    target = np.asarray(target, bool)
    for name, p in preds.items():
        if np.shape(p) != target.shape:
            raise ValueError(f"prediction {name!r} has shape {np.shape(p)}, target {target.shape}")
    if focus not in preds:
        raise ValueError(f"focus model {focus!r} is not among the predictions {list(preds)}")
    fov = np.ones_like(target) if fov is None else np.asarray(fov, bool)
    size = default_box_size(target.shape) if size is None else int(size)
    ys, xs = window_grid(target.shape, size, max(1, size // 4))

    inside = window_sums(fov.astype(np.float64), size, ys, xs) >= 0.5 * size * size
    dis = disagreement(preds, target, fov)
    thin = thin_vessel_mask(target, max_width) & fov
    green = window_sums(dis * thin, size, ys, xs)
    red = window_sums(dis, size, ys, xs) * window_sums(branch_points(target & fov), size, ys, xs)
    worst = excess_errors(preds, target, fov, focus, size, ys, xs)

    taken: list = []
    boxes: dict[str, list] = {"red": [], "green": []}
    scores = {"red": np.where(inside, red, 0), "green": np.where(inside, green, 0)}
    wanted = {"red": n_red, "green": n_green}
    for turn in range(max(n_red, n_green)):
        for kind in ("red", "green"):
            if turn < wanted[kind]:
                boxes[kind] += _pick(scores[kind], ys, xs, size, 1, taken)
    boxes["worst"] = _pick(np.where(inside, worst, 0), ys, xs, size, n_worst, [])
    return boxes
