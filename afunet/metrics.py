"""Pixel-level segmentation metrics: confusion counts, scores, aggregation, AUC, thresholds.

A ratio with a zero denominator is 1.0 if the prediction makes no error (fp == fn == 0), else
0.0. ``per_image`` averages per-image scores; ``pooled`` sums counts first (each pixel weighs
the same, the usual choice in the vessel literature): they differ, do not mix them.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRIC_NAMES = ("jaccard", "f1", "recall", "precision", "accuracy", "specificity")


@dataclass(frozen=True)
class Counts:
    """Pixel confusion counts of a binary segmentation."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        """Number of evaluated pixels."""
        return self.tp + self.fp + self.fn + self.tn


def _to_numpy(x) -> np.ndarray:
    """A numpy view of a numpy array or (possibly GPU, grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def as_bool(x, name: str = "array") -> np.ndarray:
    """A binary map as a numpy bool array; refuses probabilities (threshold them first)."""
    a = _to_numpy(x)
    if a.dtype == bool:
        return a
    if np.issubdtype(a.dtype, np.integer) and np.isin(a, (0, 1)).all():
        return a.astype(bool)
    raise TypeError(
        f"{name} must be a binary (bool or 0/1 integer) map, got dtype {a.dtype}: threshold "
        "probabilities first, e.g. confusion(prob, target, threshold=0.5), or use label > 0"
    )


def _flatten_masked(values: np.ndarray, target: np.ndarray, mask) -> tuple[np.ndarray, ...]:
    """values and target as 1-D arrays restricted to mask (all pixels when mask is None)."""
    if values.shape != target.shape:
        raise ValueError(f"shapes differ: {values.shape} vs target {target.shape}")
    if mask is None:
        return values.ravel(), target.ravel()
    m = as_bool(mask, "mask")
    if m.shape != target.shape:
        raise ValueError(f"mask shape {m.shape} != target shape {target.shape}")
    return values[m], target[m]


def confusion(pred, target, mask=None, threshold: float | None = None) -> Counts:
    """Confusion counts (Python ints) of a binary prediction against the ground truth.

    ``pred``: bool/0-1 map (numpy or torch), or probabilities binarised as ``prob >= threshold``
    when ``threshold`` is given. Only pixels inside the optional bool ``mask`` are counted.
    """
    p = _to_numpy(pred) >= threshold if threshold is not None else as_bool(pred, "pred")
    t = as_bool(target, "target")
    p, t = _flatten_masked(p, t, mask)
    tp = int(np.count_nonzero(p & t))
    n_pred = int(np.count_nonzero(p))
    n_true = int(np.count_nonzero(t))
    fp, fn = n_pred - tp, n_true - tp
    return Counts(tp, fp, fn, p.size - tp - fp - fn)


def _ratio(num: int, den: int, perfect: bool) -> float:
    """num / den, or the module's convention when den == 0."""
    if den == 0:
        return 1.0 if perfect else 0.0
    return num / den


def scores(counts: Counts) -> dict[str, float]:
    """Scores of one set of counts, keyed by ``METRIC_NAMES`` (recall = sensitivity)."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    perfect = fp == 0 and fn == 0
    return {
        "jaccard": _ratio(tp, tp + fp + fn, perfect),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, perfect),
        "recall": _ratio(tp, tp + fn, perfect),
        "precision": _ratio(tp, tp + fp, perfect),
        "accuracy": _ratio(tp + tn, counts.total, perfect),
        "specificity": _ratio(tn, tn + fp, perfect),
    }


def per_image(counts_list: Sequence[Counts]) -> dict[str, float]:
    """Mean over images of each image's scores (every image weighs the same)."""
    if not counts_list:
        raise ValueError("per_image needs at least one image's counts")
    each = [scores(c) for c in counts_list]
    return {k: float(np.mean([s[k] for s in each])) for k in METRIC_NAMES}


def pooled(counts_list: Sequence[Counts]) -> dict[str, float]:
    """Scores of the counts summed over images (every pixel weighs the same)."""
    if not counts_list:
        raise ValueError("pooled needs at least one image's counts")
    return scores(sum(counts_list, Counts()))


def _sorted_desc(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, target) sorted by descending score; tied labels in arbitrary order."""
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: check the model output before computing AUC")
    s32 = scores.astype(np.float32) + np.float32(0)  # + 0 turns -0.0 into 0.0 (same value)
    if not np.array_equal(s32, scores):  # float64 scores that float32 cannot hold: exact path
        order = np.argsort(scores, kind="stable")[::-1]
        return scores[order], target[order]
    # Fast path (argsort is much slower than sort): pack an order-preserving uint32 image of
    # each float32 score with its label into one uint64 key and sort the keys.
    bits = s32.view(np.uint32)
    ordered = np.where(bits >> 31 != 0, ~bits, bits | np.uint32(0x80000000))
    key = np.sort((ordered.astype(np.uint64) << 1) | target)[::-1]
    return key >> 1, (key & 1).astype(bool)  # keys compare like scores: enough for grouping


def _clf_curve(prob, target, mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (fps, tps, last index) at each distinct score, descending."""
    s, t = _flatten_masked(_to_numpy(prob), as_bool(target, "target"), mask)
    s, t = _sorted_desc(s, t)
    # The last index of each run of tied scores: all tied pixels switch class together.
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    tps = np.cumsum(t.astype(np.int64))[last]
    fps = (last + 1) - tps
    return fps, tps, last


def auc_roc(prob, target, mask=None) -> float:
    """Exact ROC AUC (ties as sklearn's roc_auc_score); NaN if the pixels hold one class."""
    fps, tps, _ = _clf_curve(prob, target, mask)
    if fps.size == 0 or tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)  # trapezoid rule


def auc_pr(prob, target, mask=None) -> float:
    """Average precision (sklearn's, no interpolation); NaN when no pixel is a vessel."""
    fps, tps, _ = _clf_curve(prob, target, mask)
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def best_f1_threshold(prob_list, target_list, mask_list=None) -> tuple[float, float]:
    """(threshold, f1) maximising pooled F1 over validation images; ties go to the highest.

    Binarise with ``prob >= threshold``. Raises ValueError when no pixel is a vessel.
    """
    if mask_list is None:
        mask_list = [None] * len(prob_list)
    if not (len(prob_list) == len(target_list) == len(mask_list)) or not prob_list:
        raise ValueError("prob_list, target_list and mask_list must be non-empty, of equal length")
    pairs = [
        _flatten_masked(_to_numpy(p), as_bool(t, "target"), m)
        for p, t, m in zip(prob_list, target_list, mask_list, strict=True)
    ]
    s = np.concatenate([p for p, _ in pairs])
    t = np.concatenate([t for _, t in pairs])
    n_pos = int(np.count_nonzero(t))
    if n_pos == 0:
        raise ValueError("best_f1_threshold: the images hold no vessel pixel, F1 cannot be tuned")
    fps, tps, last = _clf_curve(s, t)
    f1 = 2 * tps / (tps + fps + n_pos)  # 2tp / (2tp + fp + fn) with fn = n_pos - tp
    best = int(np.argmax(f1))  # first maximum = highest threshold (scores descend)
    k = s.size - 1 - int(last[best])  # the threshold is the (last + 1)-th largest score
    return float(np.partition(s, k)[k]), float(f1[best])


def pr_curve(
    prob, target, mask=None, max_points: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-level PR curve, thinned to at most ``max_points`` thresholds.

    sklearn's ``precision_recall_curve`` convention and values; kept thresholds are spread evenly
    along the curve's length, so a plot stays smooth where it bends.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    s, t = _flatten_masked(_to_numpy(prob), as_bool(target, "target"), mask)
    fps, tps, _ = _clf_curve(s, t)
    if tps.size == 0 or tps[-1] == 0:
        raise ValueError("pr_curve: no vessel pixel inside the mask, recall is undefined")
    # Distinct scores, descending: the k-th run of tied scores in _clf_curve has the k-th value.
    thresholds = np.unique(s)[::-1].astype(np.float64)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    if tps.size > max_points:
        arc = np.r_[0.0, np.cumsum(np.hypot(np.diff(recall), np.diff(precision)))]
        inner = np.searchsorted(arc, np.linspace(0.0, arc[-1], max_points - 2))
        keep = np.unique(np.r_[0, np.minimum(inner, tps.size - 1), tps.size - 1])
        precision, recall, thresholds = precision[keep], recall[keep], thresholds[keep]
    return (
        np.r_[precision[::-1], 1.0],
        np.r_[recall[::-1], 0.0],
        thresholds[::-1].copy(),
    )
