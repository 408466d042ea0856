"""Metrics against scikit-learn on random inputs and edge cases."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from afunet.metrics import (
    METRIC_NAMES,
    Counts,
    auc_pr,
    auc_roc,
    best_f1_threshold,
    confusion,
    per_image,
    pooled,
    scores,
)


def sklearn_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Reference scores; zero_division follows afunet's rule (1.0 only for a perfect prediction)."""
    p, t = pred.ravel(), target.ravel()
    zd = 1.0 if np.array_equal(p, t) else 0.0
    return {
        "jaccard": skm.jaccard_score(t, p, zero_division=zd),
        "f1": skm.f1_score(t, p, zero_division=zd),
        "recall": skm.recall_score(t, p, zero_division=zd),
        "precision": skm.precision_score(t, p, zero_division=zd),
        "accuracy": skm.accuracy_score(t, p),
        "specificity": skm.recall_score(t, p, pos_label=0, zero_division=zd),
    }


def check_against_sklearn(pred, target, mask=None):
    ours = scores(confusion(pred, target, mask))
    if mask is not None:
        pred, target = pred[mask], target[mask]
    ref = sklearn_scores(pred, target)
    assert set(ours) == set(METRIC_NAMES)
    for k in METRIC_NAMES:
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k


rng = np.random.default_rng(0)
SHAPE = (2, 1, 13, 17)
RANDOM = rng.random(SHAPE) < 0.3
TARGET = rng.random(SHAPE) < 0.2
MASK = rng.random(SHAPE) < 0.7
ZEROS = np.zeros(SHAPE, bool)
ONES = np.ones(SHAPE, bool)


@pytest.mark.parametrize("mask", [None, MASK], ids=["nomask", "mask"])
@pytest.mark.parametrize(
    "pred,target",
    [
        (RANDOM, TARGET),
        (ZEROS, TARGET),
        (ONES, TARGET),
        (RANDOM, ZEROS),
        (RANDOM, ONES),
        (ZEROS, ZEROS),
        (ONES, ONES),
        (ZEROS, ONES),
        (ONES, ZEROS),
        (TARGET, TARGET),
    ],
    ids=[
        "random",
        "pred0",
        "pred1",
        "target0",
        "target1",
        "both0",
        "both1",
        "p0t1",
        "p1t0",
        "same",
    ],
)
def test_scores_match_sklearn(pred, target, mask):
    check_against_sklearn(pred, target, mask)


def test_empty_denominator_conventions():
    # nothing to find, nothing claimed: perfect
    assert scores(Counts(0, 0, 0, 10)) == dict.fromkeys(METRIC_NAMES, 1.0)
    # missed vessels without claiming any: precision 0, not 1
    s = scores(Counts(tp=0, fp=0, fn=3, tn=7))
    assert s["precision"] == 0.0 and s["recall"] == 0.0 and s["specificity"] == 1.0
    # claims on an empty image: recall 0
    s = scores(Counts(tp=0, fp=2, fn=0, tn=8))
    assert s["recall"] == 0.0 and s["precision"] == 0.0 and s["f1"] == 0.0
    # an all-vessel image without errors: specificity (no negatives) is 1
    assert scores(Counts(tp=5, fp=0, fn=0, tn=0))["specificity"] == 1.0
    assert scores(Counts(tp=3, fp=0, fn=2, tn=0))["specificity"] == 0.0
    # an empty mask
    assert scores(Counts())["accuracy"] == 1.0


def test_confusion_accepts_torch_and_any_shape():
    c = confusion(torch.from_numpy(RANDOM), torch.from_numpy(TARGET), torch.from_numpy(MASK))
    assert c == confusion(RANDOM, TARGET, MASK)
    assert c == confusion(RANDOM.ravel(), TARGET.ravel(), MASK.ravel())
    assert c.total == MASK.sum()
    assert all(isinstance(v, int) for v in (c.tp, c.fp, c.fn, c.tn))


def test_confusion_refuses_probabilities_without_threshold():
    prob = rng.random(SHAPE)
    with pytest.raises(TypeError, match="threshold"):
        confusion(prob, TARGET)
    assert confusion(prob, TARGET, threshold=0.5) == confusion(prob >= 0.5, TARGET)


def test_counts_add():
    assert Counts(1, 2, 3, 4) + Counts(10, 20, 30, 40) == Counts(11, 22, 33, 44)


def test_pooled_differs_from_per_image():
    # image A: one vessel pixel, found (F1 1); image B: 99 vessel pixels, none found (F1 0).
    a, b = Counts(tp=1, fp=0, fn=0, tn=99), Counts(tp=0, fp=0, fn=99, tn=1)
    assert per_image([a, b])["f1"] == pytest.approx(0.5)
    assert pooled([a, b])["f1"] == pytest.approx(2 / (2 + 99))
    assert pooled([a, b]) == scores(a + b)
    assert per_image([a]) == pooled([a]) == scores(a)


def random_scores(n, pos_rate, seed, ties=False, dtype=np.float32):
    g = np.random.default_rng(seed)
    target = g.random(n) < pos_rate
    prob = np.clip(g.normal(0.35 + 0.3 * target, 0.2), 0, 1)
    if ties:
        prob = np.round(prob, 1)  # many tied scores
    return prob.astype(dtype), target


# float32 takes the packed-key sort, float64 the exact argsort path; logits test negative scores
@pytest.mark.parametrize("dtype", [np.float32, np.float64, "logit"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_auc_match_sklearn(seed, ties, dtype):
    if dtype == "logit":
        prob, target = random_scores(3000, 0.15, seed, ties)
        prob = (prob - 0.5) * 10
        prob[:10] = -0.0
    else:
        prob, target = random_scores(3000, 0.15, seed, ties, dtype)
    assert auc_roc(prob, target) == pytest.approx(skm.roc_auc_score(target, prob), abs=1e-12)
    assert auc_pr(prob, target) == pytest.approx(
        skm.average_precision_score(target, prob), abs=1e-12
    )


def test_auc_with_mask_and_torch():
    prob, target = random_scores(4000, 0.2, 3)
    mask = np.random.default_rng(4).random(4000) < 0.6
    ref_roc = skm.roc_auc_score(target[mask], prob[mask])
    ref_ap = skm.average_precision_score(target[mask], prob[mask])
    shape = (4, 1, 20, 50)
    args = [torch.from_numpy(a.reshape(shape)) for a in (prob, target, mask)]
    assert auc_roc(*args) == pytest.approx(ref_roc, abs=1e-12)
    assert auc_pr(*args) == pytest.approx(ref_ap, abs=1e-12)


def test_auc_single_class_is_nan():
    prob = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="NaN"):
        auc_roc(np.r_[prob[:9], np.nan], np.ones(10, bool))
    assert np.isnan(auc_roc(prob, np.zeros(10, bool)))
    assert np.isnan(auc_roc(prob, np.ones(10, bool)))
    assert np.isnan(auc_pr(prob, np.zeros(10, bool)))
    assert auc_pr(prob, np.ones(10, bool)) == 1.0


def test_auc_on_drive_sized_input_matches_sklearn():
    # The packed-key fast path is only taken on large float32 inputs; check it there too.
    prob, target = random_scores(2_000_000, 0.12, 5)
    assert auc_roc(prob, target) == pytest.approx(skm.roc_auc_score(target, prob), abs=1e-9)
    assert auc_pr(prob, target) == pytest.approx(skm.average_precision_score(target, prob), abs=1e-9)


def test_best_f1_threshold_is_pooled_maximum():
    g = np.random.default_rng(6)
    probs, targets, masks = [], [], []
    for i in range(3):
        p, t = random_scores(600, 0.1 + 0.1 * i, 10 + i, ties=(i == 1))
        probs.append(p.reshape(20, 30))
        targets.append(t.reshape(20, 30))
        masks.append(g.random((20, 30)) < 0.8)
    thr, f1 = best_f1_threshold(probs, targets, masks)
    # it reproduces its F1 with the documented rule prob >= thr
    sets = list(zip(probs, targets, masks, strict=True))
    counts = [confusion(p, t, m, threshold=thr) for p, t, m in sets]
    assert pooled(counts)["f1"] == pytest.approx(f1, abs=1e-12)
    # and no threshold does better (brute force on the pooled pixels, checked with sklearn)
    s = np.concatenate([p[m] for p, _, m in sets])
    t = np.concatenate([tt[m] for _, tt, m in sets])
    above = s[None, :] >= np.unique(s)[:, None]
    tp = (above & t).sum(1)
    brute = (2 * tp / (above.sum(1) + t.sum())).max()
    assert f1 == pytest.approx(brute, abs=1e-12)
    assert f1 == pytest.approx(skm.f1_score(t, s >= thr), abs=1e-12)


def test_best_f1_threshold_without_masks_and_without_vessels():
    p, t = random_scores(500, 0.3, 7)
    thr, f1 = best_f1_threshold([p], [t])
    assert f1 == pytest.approx(skm.f1_score(t, p >= thr))
    with pytest.raises(ValueError, match="no vessel"):
        best_f1_threshold([p], [np.zeros(500, bool)])
