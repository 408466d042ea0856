"""Paired tests of AF-UNet against each baseline, per test image (the paper reports none).

Each model's metric on an image is first averaged over its seeds, so n = number of test images
and the seeds' spread does not count as extra samples. Wilcoxon signed-rank (no normality
assumed) and paired t-test, both two-sided; Holm's correction over baselines for Wilcoxon.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from afunet import registry
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

    One row per baseline x metric (``TEST_COLUMNS``), in-domain runs only: mean_diff =
    reference - baseline, reference_better in the metric's good direction, p NaN when n < 2,
    wilcoxon_p_holm per metric. Empty when the reference or every baseline is missing.
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
    for baseline in registry.order(sel["model"].unique()):
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


P_COLUMNS = ("wilcoxon_p", "wilcoxon_p_holm", "ttest_p")


def format_p(p, digits: int = 3) -> str:
    """A p-value as text, one format everywhere: "< 0.001" below 0.001, else three decimals.

    Never scientific notation (1.9e-06 beside 0.0020 reads as a typo); "" for NaN / None.
    """
    if p is None or pd.isna(p):
        return ""
    floor = 10.0 ** -digits
    return f"< {floor:.{digits}f}" if float(p) < floor else f"{float(p):.{digits}f}"


def p_phrase(p) -> str:
    """`format_p` in a sentence: "p < 0.001" or "p = 0.015"."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_tests(tests: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """A `paired_tests` table for reading: p-values through `format_p`, differences rounded."""
    out = tests.copy()
    for col in P_COLUMNS:
        if col in out:
            out[col] = out[col].map(format_p)
    for col, sign in (("mean_reference", ""), ("mean_baseline", ""), ("mean_diff", "+")):
        if col in out:
            out[col] = [("" if pd.isna(v) else f"{v:{sign}.{digits}f}") for v in out[col]]
    return out


def wilcoxon(diff: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank (statistic, p); zeros dropped, all zero: p 1, n < 2: NaN."""
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
    """Two-sided t-test of differences against 0 (t, p); all zero: p 1, n < 2 or no spread: NaN."""
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
