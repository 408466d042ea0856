"""Pixel-level segmentation metrics: confusion counts, scores, aggregation, AUC and thresholds.

Empty-denominator convention (one rule for every ratio in ``scores``): a score whose denominator
is zero is **1.0 if the prediction makes no error (fp == 0 and fn == 0), else 0.0**. For example
precision with tp + fp == 0 is 1.0 when fn == 0 (nothing to find, nothing claimed) and 0.0 when
vessels were missed. This equals scikit-learn's ``zero_division=1.0`` for an error-free prediction
and ``zero_division=0.0`` otherwise.

Two aggregations over a test set, which give different numbers and must not be confused:

* ``per_image``: score each image, then average the scores (each image weighs the same);
* ``pooled``: sum the confusion counts of all images, then score once (each pixel weighs the
  same; the usual choice of the retinal-vessel literature, e.g. DRIVE tables).
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
    """Confusion counts of a binary prediction against the ground truth.

    Args:
        pred: bool (or 0/1 integer) map, numpy array or torch tensor of any shape; or
            probabilities when ``threshold`` is given.
        target: bool ground truth of the same shape.
        mask: optional bool field of view; only pixels inside it are counted.
        threshold: when given, ``pred = prob >= threshold`` (the same rule as
            ``best_f1_threshold``). Float ``pred`` without a threshold is refused.

    Returns:
        Counts(tp, fp, fn, tn) as Python ints.
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
    """Scores of one set of counts (see the module docstring for zero denominators).

    Args:
        counts: confusion counts.

    Returns:
        dict with the keys of ``METRIC_NAMES``: jaccard = tp/(tp+fp+fn), f1 = 2tp/(2tp+fp+fn),
        recall (sensitivity) = tp/(tp+fn), precision = tp/(tp+fp),
        accuracy = (tp+tn)/total, specificity = tn/(tn+fp).
    """
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
    """Mean over images of each image's scores (every image weighs the same).

    Args:
        counts_list: one Counts per image.

    Returns:
        dict keyed by ``METRIC_NAMES``.
    """
    if not counts_list:
        raise ValueError("per_image needs at least one image's counts")
    each = [scores(c) for c in counts_list]
    return {k: float(np.mean([s[k] for s in each])) for k in METRIC_NAMES}


def pooled(counts_list: Sequence[Counts]) -> dict[str, float]:
    """Scores of the counts summed over images (every pixel weighs the same).

    Args:
        counts_list: one Counts per image.

    Returns:
        dict keyed by ``METRIC_NAMES``.
    """
    if not counts_list:
        raise ValueError("pooled needs at least one image's counts")
    return scores(sum(counts_list, Counts()))


def _sorted_desc(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, target) sorted by descending score; ties keep an arbitrary label order."""
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: check the model output before computing AUC")
    s32 = scores.astype(np.float32) + np.float32(0)  # + 0 turns -0.0 into 0.0 (same value)
    if not np.array_equal(s32, scores):  # float64 scores that float32 cannot hold: exact path
        order = np.argsort(scores, kind="stable")[::-1]
        return scores[order], target[order]
    # Fast path (numpy's argsort is ~10x slower than sort): pack an order-preserving uint32 image
    # of each float32 score with its label into one uint64 key and sort the keys.
    bits = s32.view(np.uint32)
    ordered = np.where(bits >> 31 != 0, ~bits, bits | np.uint32(0x80000000))
    key = np.sort((ordered.astype(np.uint64) << 1) | target)[::-1]
    return key >> 1, (key & 1).astype(bool)  # keys compare like scores: enough for grouping


def _clf_curve(prob, target, mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (fps, tps, last index) at each distinct score, in descending score order."""
    s, t = _flatten_masked(_to_numpy(prob), as_bool(target, "target"), mask)
    s, t = _sorted_desc(s, t)
    # The last index of each run of tied scores: all tied pixels switch class together.
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    tps = np.cumsum(t.astype(np.int64))[last]
    fps = (last + 1) - tps
    return fps, tps, last


def auc_roc(prob, target, mask=None) -> float:
    """Area under the ROC curve (exact, trapezoidal, ties handled as in sklearn's roc_auc_score).

    Args:
        prob: scores (probabilities), numpy array or torch tensor of any shape.
        target: bool ground truth of the same shape.
        mask: optional bool field of view; only pixels inside it count.

    Returns:
        AUC in [0, 1]; NaN when the evaluated pixels hold only one class (undefined).
    """
    fps, tps, _ = _clf_curve(prob, target, mask)
    if fps.size == 0 or tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)  # trapezoid rule


def auc_pr(prob, target, mask=None) -> float:
    """Area under the precision-recall curve as average precision (sklearn's definition).

    AP = sum_n (R_n - R_{n-1}) * P_n over the distinct thresholds, a step-wise sum without
    interpolation (equal to ``sklearn.metrics.average_precision_score``).

    Args:
        prob: scores (probabilities), numpy array or torch tensor of any shape.
        target: bool ground truth of the same shape.
        mask: optional bool field of view; only pixels inside it count.

    Returns:
        AP in [0, 1]; NaN when there is no vessel pixel (recall undefined).
    """
    fps, tps, _ = _clf_curve(prob, target, mask)
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def best_f1_threshold(prob_list, target_list, mask_list=None) -> tuple[float, float]:
    """Threshold maximising the pooled F1 over a set of images (validation split only).

    This is the a-priori threshold of the evaluation protocol: choose it on validation images,
    then apply it unchanged to the test images.

    Args:
        prob_list: per-image score maps (numpy arrays or torch tensors).
        target_list: per-image bool ground truths.
        mask_list: optional per-image bool fields of view (None: all pixels).

    Returns:
        (threshold, f1): binarise with ``prob >= threshold`` to reproduce ``f1`` on these images.
        Among equal F1 the highest threshold is returned.
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
    """Pixel-level precision-recall curve, thinned to at most ``max_points`` thresholds.

    Same convention as ``sklearn.metrics.precision_recall_curve``: thresholds ascend,
    ``precision[i]`` and ``recall[i]`` are those of ``prob >= thresholds[i]``, and one final
    point (precision 1, recall 0) is appended. At every returned threshold the values equal
    sklearn's. The thresholds kept are spread evenly along the curve's length in the
    (recall, precision) plane, so a plot is smooth where the curve bends (a DRIVE image has
    ~10^5 distinct scores, far more than a plot needs). The first and last thresholds are kept.

    Args:
        prob: scores (probabilities), numpy array or torch tensor of any shape.
        target: bool ground truth of the same shape.
        mask: optional bool field of view; only pixels inside it count.
        max_points: most thresholds returned (>= 2).

    Returns:
        (precision, recall, thresholds) float arrays; precision and recall have one element
        more than thresholds.
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
