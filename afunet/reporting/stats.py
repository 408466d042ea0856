"""Paired tests of AF-UNet against each baseline, per test image (the paper reports none).

The unit of pairing is the test image: each model's metric on an image is first averaged over
its seeds, so both models are judged on the same images and the seeds' spread does not count as
extra samples (n = number of test images, e.g. 20 on DRIVE, 10 on STARE's 10/10 split).
Two tests per metric: Wilcoxon's signed-rank test (no normality assumed; scipy's exact
distribution for small n without ties) and the paired t-test; both two-sided. Holm's
step-down correction over the baselines of a metric is given for the Wilcoxon p-values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from afunet.reporting.results import model_order
from afunet.reporting.tables import default_variant

TEST_METRICS = ("f1", "jaccard", "recall", "precision", "accuracy", "cldice", "betti0_error",
                "thin_f1", "auc_pr")
LOWER_IS_BETTER = frozenset({"betti0_error"})
TEST_COLUMNS = ("dataset", "rule", "metric", "reference", "baseline", "n_images",
                "n_seeds_reference", "n_seeds_baseline", "mean_reference", "mean_baseline",
                "mean_diff", "reference_better", "wilcoxon_stat", "wilcoxon_p",
                "wilcoxon_p_holm", "ttest_t", "ttest_p")


def paired_tests(per_image_df: pd.DataFrame, dataset: str, reference: str = "afunet",
                 rule: str = "fixed", metrics=TEST_METRICS) -> pd.DataFrame:
    """Wilcoxon signed-rank and paired t-tests of ``reference`` against every other model.

    Args:
        per_image_df: `per_image`'s table (one row per run x data set x image x rater x rule).
        dataset: data set trained and tested on (cross-data-set rows are left out).
        reference: model compared with the others (the paper's: "afunet").
        rule: threshold rule, "fixed" or "val".
        metrics: metric columns tested.

    Returns:
        DataFrame with ``TEST_COLUMNS``, one row per baseline x metric: n_images (images
        scored by both), seeds per model, means over images of the seed-averaged values,
        mean_diff = reference - baseline, reference_better (in the metric's good direction;
        Betti-0 error: lower), the statistics and two-sided p-values (NaN when n < 2), and
        Holm-corrected Wilcoxon p-values over the baselines of each metric. Empty when the
        reference or every baseline is missing.
    """
    df = per_image_df
    sel = df[(df["dataset"] == dataset) & (df["trained_on"] == dataset)
             & (df["rater"] == "model") & (df["rule"] == rule) & default_variant(df)]
    metrics = [m for m in metrics if m in sel.columns]
    if sel.empty or reference not in set(sel["model"]):
        return pd.DataFrame(columns=list(TEST_COLUMNS))
    means = sel.groupby(["model", "id"])[metrics].mean()
    seeds = sel.groupby("model")["seed"].nunique()
    ref = means.loc[reference]
    rows = []
    for baseline in model_order(sel["model"].unique()):
        if baseline == reference:
            continue
        other = means.loc[baseline]
        for m in metrics:
            pair = pd.concat([ref[m], other[m]], axis=1, keys=["a", "b"], join="inner").dropna()
            diff = (pair["a"] - pair["b"]).to_numpy(float)
            w_stat, w_p = wilcoxon(diff)
            t_stat, t_p = ttest(diff)
            sign = -1 if m in LOWER_IS_BETTER else 1
            rows.append(dict(
                dataset=dataset, rule=rule, metric=m, reference=reference, baseline=baseline,
                n_images=len(diff), n_seeds_reference=int(seeds[reference]),
                n_seeds_baseline=int(seeds[baseline]), mean_reference=pair["a"].mean(),
                mean_baseline=pair["b"].mean(), mean_diff=diff.mean() if len(diff) else np.nan,
                reference_better=bool(len(diff) and sign * diff.mean() > 0),
                wilcoxon_stat=w_stat, wilcoxon_p=w_p, ttest_t=t_stat, ttest_p=t_p))
    out = pd.DataFrame(rows, columns=list(TEST_COLUMNS))
    out["wilcoxon_p_holm"] = out.groupby("metric")["wilcoxon_p"].transform(holm)
    return out


def wilcoxon(diff: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences: (statistic, p).

    Zero differences are dropped (Wilcoxon's convention); all-zero differences give p = 1.
    Fewer than 2 pairs give NaN.
    """
    diff = np.asarray(diff, float)
    if diff.size < 2:
        return np.nan, np.nan
    if np.all(diff == 0):
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when ties force the normal approximation
        res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def ttest(diff: np.ndarray) -> tuple[float, float]:
    """Two-sided one-sample t-test of paired differences against 0: (t, p).

    NaN for fewer than 2 pairs or identical differences (no spread: t is undefined); p = 1
    when every difference is 0.
    """
    diff = np.asarray(diff, float)
    if diff.size < 2:
        return np.nan, np.nan
    if np.all(diff == 0):
        return 0.0, 1.0
    if np.ptp(diff) == 0:
        return np.nan, np.nan
    res = stats.ttest_1samp(diff, 0.0)
    return float(res.statistic), float(res.pvalue)


def holm(p: pd.Series) -> pd.Series:
    """Holm's step-down adjusted p-values (family = the values given; NaN stays NaN)."""
    values = p.to_numpy(float)
    ok = ~np.isnan(values)
    out = np.full(values.shape, np.nan)
    m = int(ok.sum())
    if m:
        order = np.argsort(values[ok])
        adjusted = np.maximum.accumulate((m - np.arange(m)) * values[ok][order])
        result = np.empty(m)
        result[order] = np.minimum(adjusted, 1.0)
        out[ok] = result
    return pd.Series(out, index=p.index)
