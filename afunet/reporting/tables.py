"""The study's tables: ours beside the paper's (Tables 1 and 2), cross-data-set, ablation, cost.

From `collect`'s long table: each run's metric pooled over its test images, then mean and std
over seeds (ddof=1, empty with one seed). Rule "fixed" = 0.5, "val" = chosen on validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from afunet import registry
from afunet.study import Run

PAPER_CSV = Path(__file__).resolve().parents[1] / "paper" / "paper_tables.csv"
PAPER_METRICS = ("jaccard", "f1", "recall", "precision", "accuracy")
METRIC_LABELS = {"jaccard": "Jaccard", "f1": "F1", "recall": "Recall",
                 "precision": "Precision", "accuracy": "Acc (FOV)",
                 "accuracy_image": "Acc (image)", "specificity": "Specificity",
                 "cldice": "clDice", "betti0_error": "Betti-0 error",
                 "thin_f1": "Thin-vessel F1", "auc_roc": "AUC-ROC", "auc_pr": "AUC-PR"}
RULE_LABELS = {"fixed": "0.5 (fixed)", "val": "val. F1-optimal", "none": "-"}
# Table 1 / 2 columns: the paper's five (accuracy both ways), then what the paper did not measure.
TABLE_METRICS = ("jaccard", "f1", "recall", "precision", "accuracy", "accuracy_image",
                 "cldice", "betti0_error", "thin_f1", "auc_roc", "auc_pr")
CROSS_METRICS = ("f1", "jaccard", "recall", "precision", "cldice", "auc_pr")
ABLATION_METRICS = ("f1", "jaccard", "recall", "precision", "cldice", "betti0_error",
                    "thin_f1", "auc_roc", "auc_pr")
SKIP_VARIANTS = ("adjacent", "first", "none")  # AF-UNet's skip sources; "adjacent" = default


def paper_table(dataset: str) -> pd.DataFrame:
    """The paper's Table 1 / 2 ("drive" / "stare", else empty): model, method, its 5 metrics."""
    table = pd.read_csv(PAPER_CSV)
    table = table[table["dataset"].str.lower() == dataset.lower()].copy()
    table.insert(0, "model", table["method"].map(registry.paper_methods()))
    return table.drop(columns="dataset").reset_index(drop=True)


def in_domain(df: pd.DataFrame, dataset: str, rule: str = "fixed") -> pd.DataFrame:
    """Model rows trained and tested on ``dataset`` at one threshold rule, default variants."""
    keep = ((df["dataset"] == dataset) & (df["trained_on"] == dataset)
            & (df["rater"] == "model") & (df["rule"] == rule) & default_variant(df))
    return df[keep]


def summary_table(df: pd.DataFrame, dataset: str, rule: str = "fixed",
                  metrics=TABLE_METRICS, observer: bool = True) -> pd.DataFrame:
    """Mean and std over seeds per model trained and tested on ``dataset``, beside the paper.

    Rows: models found or in the paper's table (n_seeds 0 without runs), then, with ``observer``,
    the second observer against the first. Columns: model, method, rule, n_seeds, seeds,
    ``<m>_mean``, ``<m>_std``, ``<m>_paper``, ``<m>_diff`` (ours - paper; the paper's accuracy
    is compared with ours in the FOV and, as accuracy_image_diff, over the whole image).
    """
    rows_in = in_domain(df, dataset, rule)
    paper = paper_table(dataset).set_index("model")
    models = registry.order([*rows_in["model"].unique(), *paper.index])
    rows = []
    for model in models:
        part = rows_in[rows_in["model"] == model]
        row = dict(model=model, method=registry.label(model), rule=rule,
                   n_seeds=int(part["seed"].nunique()),
                   seeds=",".join(str(s) for s in sorted(part["seed"].unique())))
        for m in metrics:
            values = part[m].astype(float)
            row[f"{m}_mean"] = values.mean() if len(values) else np.nan
            row[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append(row)
    if observer:
        rows += _observer_rows(df, dataset, metrics)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for m in PAPER_METRICS:
        out[f"{m}_paper"] = out["model"].map(paper[m]) if m in paper else np.nan
        if f"{m}_mean" in out:
            out[f"{m}_diff"] = out[f"{m}_mean"] - out[f"{m}_paper"]
    if "accuracy_image_mean" in out:
        out["accuracy_image_diff"] = out["accuracy_image_mean"] - out["accuracy_paper"]
    return out


def results_table(df: pd.DataFrame, dataset: str, rules=("fixed", "val"),
                  metrics=TABLE_METRICS) -> pd.DataFrame:
    """`summary_table` for each threshold rule stacked, the observer's row once at the end."""
    parts = [summary_table(df, dataset, rule, metrics, observer=False) for rule in rules]
    parts.append(pd.DataFrame(_observer_rows(df, dataset, metrics)))
    out = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    if out.empty:
        return out
    paper = paper_table(dataset).set_index("model")
    for m in PAPER_METRICS:
        out[f"{m}_paper"] = out["model"].map(paper[m]) if m in paper else np.nan
        out[f"{m}_diff"] = out[f"{m}_mean"] - out[f"{m}_paper"] if f"{m}_mean" in out else np.nan
    if "accuracy_image_mean" in out:
        out["accuracy_image_diff"] = out["accuracy_image_mean"] - out["accuracy_paper"]
    return out


def format_summary(table: pd.DataFrame, metrics=TABLE_METRICS, digits: int = 4,
                   paper: bool = True) -> pd.DataFrame:
    """A `summary_table` / `results_table` as text: Method, Threshold, n, "0.8123 ± 0.0031"...

    ``paper`` adds a "(paper)" column after each paper metric (its accuracy after our
    whole-image accuracy, the quantity it matches).
    """
    out = pd.DataFrame({"Method": table["method"],
                        "Threshold": table["rule"].map(RULE_LABELS).fillna(table["rule"]),
                        "n": [("" if pd.isna(n) else str(int(n))) for n in table["n_seeds"]]})
    has_paper = paper and table.get("f1_paper", pd.Series(dtype=float)).notna().any()
    for m in metrics:
        out[METRIC_LABELS.get(m, m)] = [
            mean_std(a, b, 2 if m == "betti0_error" else digits)
            for a, b in zip(table[f"{m}_mean"], table[f"{m}_std"], strict=True)]
        paper_col = "accuracy" if m == "accuracy_image" else m
        if has_paper and paper_col in PAPER_METRICS and m != "accuracy":
            label = "Acc (paper)" if m == "accuracy_image" else f"{METRIC_LABELS[m]} (paper)"
            out[label] = [fmt(v, digits) for v in table[f"{paper_col}_paper"]]
    if has_paper and "accuracy" in metrics and "accuracy_image" not in metrics:
        out["Acc (paper)"] = [fmt(v, digits) for v in table["accuracy_paper"]]
    return out


# The two halves of a formatted Table 1 / 2: what the paper reports, and what it does not.
PAPER_VIEW = ("Method", "Threshold", "n", "Jaccard", "Jaccard (paper)", "F1", "F1 (paper)",
              "Recall", "Recall (paper)", "Precision", "Precision (paper)", "Acc (FOV)",
              "Acc (image)", "Acc (paper)")
EXTRA_VIEW = ("Method", "Threshold", "n", "clDice", "Betti-0 error", "Thin-vessel F1",
              "AUC-ROC", "AUC-PR")


VIEWS = (("the paper's metrics", PAPER_VIEW), ("beyond the paper", EXTRA_VIEW))
# Section titles of Tables 1 and 2, one table per threshold rule.
RULE_TITLES = {"fixed": "Threshold 0.5 (fixed)",
               "val": "Threshold F1-optimal on each run's validation images"}


def table_parts(shown: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A `format_summary` table split in [(title, part)]: the paper's metrics, then the rest."""
    parts = []
    for title, columns in VIEWS:
        keep = [c for c in columns if c in shown.columns]
        if len(keep) > 3:
            parts.append((title, shown[keep]))
    return parts


def rule_parts(table: pd.DataFrame, metrics=TABLE_METRICS,
               digits: int = 4) -> list[tuple[str, pd.DataFrame]]:
    """A `results_table` as one table per threshold rule, each split like `table_parts`.

    Returns [(title, part)]: for each rule in the table's order, "<rule>: the paper's metrics"
    then "<rule>: beyond the paper". The rule stands in the title, not in a column; the second
    observer (no threshold) closes every rule's table as the human reference. Each part has a
    fresh 0..n-1 index; show it without (``to_markdown``, ``part.style.hide(axis="index")``).
    """
    observer = table[table["rule"] == "none"]
    parts = []
    for rule in dict.fromkeys(table.loc[table["rule"] != "none", "rule"]):
        rows = pd.concat([table[table["rule"] == rule], observer], ignore_index=True)
        shown = format_summary(rows, metrics, digits).drop(columns="Threshold")
        head = RULE_TITLES.get(rule, f"Threshold {RULE_LABELS.get(rule, rule)}")
        parts += [(f"{head}: {title}", part.reset_index(drop=True))
                  for title, part in table_parts(shown)]
    return parts


def cross_dataset_table(df: pd.DataFrame, rule: str = "fixed",
                        metrics=CROSS_METRICS) -> pd.DataFrame:
    """Models tested on a data set they were not trained on, beside their in-domain F1.

    Thresholds come from the training set's validation images, so rule "val" is the deployable
    one. One row per model x trained_on x dataset: ``<m>_mean``, ``<m>_std``, f1_in_domain
    (model trained on the test set), f1_gap (in-domain - cross). Empty without such runs.
    """
    keep = ((df["trained_on"] != df["dataset"]) & (df["rater"] == "model")
            & (df["rule"] == rule) & default_variant(df))
    cross = df[keep]
    rows = []
    for (model, src, dst), part in cross.groupby(["model", "trained_on", "dataset"]):
        row = dict(model=model, method=registry.label(model), trained_on=src, dataset=dst,
                   rule=rule, n_seeds=int(part["seed"].nunique()))
        for m in metrics:
            row[f"{m}_mean"] = part[m].mean()
            row[f"{m}_std"] = part[m].std(ddof=1) if len(part) > 1 else np.nan
        home = in_domain(df, dst, rule)
        row["f1_in_domain"] = home.loc[home["model"] == model, "f1"].mean()
        row["f1_gap"] = row["f1_in_domain"] - row["f1_mean"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {m: i for i, m in enumerate(registry.order(out["model"]))}
    return out.sort_values(["trained_on", "dataset", "model"],
                           key=lambda s: s.map(order) if s.name == "model" else s,
                           ignore_index=True)


def ablation_table(df: pd.DataFrame, dataset: str = "drive", seed: int = 0,
                   rule: str = "fixed", metrics=ABLATION_METRICS,
                   reference: str | None = "unet") -> pd.DataFrame:
    """AF-UNet's skip-source variants side by side: validation and test numbers of one seed.

    One seed, as the pipeline trains the variants with seed 0 only. Rows: ``SKIP_VARIANTS``
    (present or not), then ``reference``'s run (U-Net = the "none" architecture; None: no row).
    Columns: variant, run, present, rule, run info, test metrics (NaN where the run is missing).
    """
    sel = df[(df["trained_on"] == dataset) & (df["dataset"] == dataset) & (df["seed"] == seed)
             & (df["rater"] == "model") & (df["rule"] == rule)]
    names = {v: Run(dataset, "afunet", seed, None if v == "adjacent" else v).name
             for v in SKIP_VARIANTS}
    if reference:
        names[f"{reference} (reference)"] = Run(dataset, reference, seed).name
    rows = []
    for variant, name in names.items():
        part = sel[sel["run"] == name]
        row = dict(variant=variant, run=name, present=not part.empty, rule=rule)
        first = part.iloc[0] if not part.empty else None
        for key in ("params", "best_epoch", "best_val_loss", "best_val_f1", "epochs_run",
                    "train_seconds", *metrics):
            row[key] = first[key] if first is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def seed_spread(df: pd.DataFrame, dataset: str, models=("afunet", "unet"), rule: str = "fixed",
                metrics=ABLATION_METRICS) -> dict[str, float]:
    """Metric -> s.d. of one run's score over seeds, pooled over ``models`` (root mean variance).

    From the in-domain runs of Tables 1 / 2: how much a score moves with the seed alone, the
    yardstick for single-seed differences such as the ablation's. NaN with fewer than 2 seeds.
    """
    runs = in_domain(df, dataset, rule)
    runs = runs[runs["model"].isin(models)]
    out = {}
    for m in metrics:
        var = runs.groupby("model")[m].var(ddof=1).dropna() if m in runs else pd.Series(dtype=float)
        out[m] = float(np.sqrt(var.mean())) if len(var) else np.nan
    return out


def format_cross(table: pd.DataFrame, metrics=CROSS_METRICS, digits: int = 4) -> pd.DataFrame:
    """A `cross_dataset_table` as text cells (mean ± std over seeds)."""
    if table.empty:
        return pd.DataFrame(columns=["Method", "Trained on", "Tested on", "Threshold", "n"])
    out = pd.DataFrame({"Method": table["method"], "Trained on": table["trained_on"].str.upper(),
                        "Tested on": table["dataset"].str.upper(),
                        "Threshold": table["rule"].map(RULE_LABELS),
                        "n": table["n_seeds"].astype(int).astype(str)})
    for m in metrics:
        out[METRIC_LABELS.get(m, m)] = [mean_std(a, b, digits) for a, b in
                                        zip(table[f"{m}_mean"], table[f"{m}_std"], strict=True)]
    out["F1 in-domain"] = [fmt(v, digits) for v in table["f1_in_domain"]]
    out["F1 gap"] = [fmt(v, digits) for v in table["f1_gap"]]
    return out


def format_ablation(table: pd.DataFrame, metrics=ABLATION_METRICS,
                    digits: int = 4) -> pd.DataFrame:
    """An `ablation_table` (one or more rules stacked) as text cells."""
    out = pd.DataFrame({"Variant": table["variant"], "Run": table["run"],
                        "Threshold": table["rule"].map(RULE_LABELS),
                        "Params": [("" if pd.isna(v) else f"{int(v):,}") for v in table["params"]],
                        "Best epoch": [("" if pd.isna(v) else str(int(v)))
                                       for v in table["best_epoch"]],
                        "Val loss": [fmt(v, digits) for v in table["best_val_loss"]],
                        "Val F1": [fmt(v, digits) for v in table["best_val_f1"]]})
    for m in metrics:
        out[METRIC_LABELS.get(m, m)] = [fmt(v, 2 if m == "betti0_error" else digits)
                                        for v in table[m]]
    return out


def format_efficiency(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """An `efficiency_table` as text cells: millions of parameters, GFLOPs, ms, F1 ± std."""
    out = pd.DataFrame({"Method": table["method"]})
    for col in table.columns:
        if col.startswith("params_w"):
            out[f"Params (M), width {col[8:]}"] = [fmt(v / 1e6, 2) for v in table[col]]
        elif col.startswith("gflops_w"):
            out[f"GFLOPs, width {col[8:]}"] = [fmt(v, 1) for v in table[col]]
    if "infer_ms" in table:
        out["Latency (ms)"] = [fmt(v, 1) for v in table["infer_ms"]]
    if "train_images_per_s" in table:
        out["Train (img/s)"] = [fmt(v, 2) for v in table["train_images_per_s"]]
    out["n"] = table["n_seeds"].astype(str)
    out["F1"] = [mean_std(a, b, digits) for a, b in
                 zip(table["f1_mean"], table["f1_std"], strict=True)]
    out["Training (min)"] = [fmt(v, 1) for v in table["train_minutes"]]
    out["Epochs"] = [fmt(v, 0) for v in table["epochs_run"]]
    return out


def model_costs(widths=(16, 64), size: int = 512, models=None) -> pd.DataFrame:
    """Columns model, width, size, params, gflops (forward; a multiply-add counts 2)."""
    # Imported here: it needs torch, which the rest of reporting does without.
    from afunet.models.table import count

    rows = []
    for width in widths:
        for model in models or registry.names():
            s = count(model, width, size)
            rows.append(dict(model=model, width=width, size=size, params=int(s["params"]),
                             gflops=float(s["gflops"])))
    return pd.DataFrame(rows)


def efficiency_table(df: pd.DataFrame, costs: pd.DataFrame, bench: pd.DataFrame | None = None,
                     dataset: str = "drive", rule: str = "fixed") -> pd.DataFrame:
    """Cost beside accuracy per model: parameters, GFLOPs, latency, training time, F1.

    Columns: params_w<W>, gflops_w<W> per width of ``costs``; infer_ms, train_images_per_s
    from an optional one-device ``bench`` CSV (`bench_best`); n_seeds, f1_mean, f1_std,
    train_minutes, epochs_run over ``dataset``'s in-domain runs.
    """
    out = pd.DataFrame({"model": registry.order(costs["model"].unique())})
    out["method"] = out["model"].map(registry.label)
    for width, part in costs.groupby("width"):
        part = part.set_index("model")
        out[f"params_w{width}"] = out["model"].map(part["params"])
        out[f"gflops_w{width}"] = out["model"].map(part["gflops"])
    if bench is not None and not bench.empty:
        first = bench_best(bench).set_index("model")
        for col in ("infer_ms", "train_images_per_s"):
            if col in first:
                out[col] = out["model"].map(first[col])
    runs = in_domain(df, dataset, rule)
    grouped = runs.groupby("model")
    out["n_seeds"] = out["model"].map(grouped["seed"].nunique()).fillna(0).astype(int)
    out["f1_mean"] = out["model"].map(grouped["f1"].mean())
    out["f1_std"] = out["model"].map(grouped["f1"].std(ddof=1))
    out["train_minutes"] = out["model"].map(grouped["train_seconds"].mean() / 60)
    out["epochs_run"] = out["model"].map(grouped["epochs_run"].mean())
    return out


def bench_best(bench: pd.DataFrame) -> pd.DataFrame:
    """One row per model of an `afunet bench` CSV, each figure at its own fastest setting.

    The setting (precision, memory format) that trains fastest need not infer fastest, so
    train_* / precision / channels_last and infer_* columns may come from different rows.
    """
    best = _fastest(bench, "train_images_per_s", ascending=False)
    best = best.loc[registry.order(best.index)].reset_index()
    best["size"] = best["height"].astype(str) + " x " + best["input_width"].astype(str)
    if "infer_ms" in bench:
        quick = _fastest(bench, "infer_ms", ascending=True)
        best["infer_ms"] = best["model"].map(quick["infer_ms"])
        for col in ("precision", "channels_last"):
            if col in quick:
                best[f"infer_{col}"] = best["model"].map(quick[col])
    columns = ["model", "device_name", "width", "size", "precision", "channels_last",
               "train_images_per_s", "train_step_ms", "infer_ms", "infer_precision",
               "infer_channels_last"]
    return best[[c for c in columns if c in best.columns]]


def _fastest(bench: pd.DataFrame, column: str, ascending: bool) -> pd.DataFrame:
    """Each model's row with the best value of `column`, indexed by model (first on ties)."""
    return bench.sort_values(column, ascending=ascending, kind="stable").drop_duplicates(
        "model").set_index("model")


def mean_std(mean, std, digits: int = 4, std_digits: int | None = None) -> str:
    """"0.8123 ± 0.0031" (or the mean alone with one seed, "" when there is no value)."""
    if mean is None or pd.isna(mean):
        return ""
    if std is None or pd.isna(std):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, std_digits if std_digits is not None else digits)}"


def fmt(value, digits: int = 4) -> str:
    """A number with fixed decimals, "" for NaN / None."""
    return "" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def default_variant(df: pd.DataFrame) -> pd.Series:
    """Rows of each model's default setting (AF-UNet's adjacent skips; not the ablation)."""
    return df["skip_source"].fillna("").isin(["", "adjacent"])


def _observer_rows(df: pd.DataFrame, dataset: str, metrics) -> list[dict]:
    """The second observer's row (same for every run on a set; in-domain runs preferred)."""
    obs = df[(df["rater"] == "observer2") & (df["dataset"] == dataset)]
    if obs.empty:
        return []
    obs = obs.sort_values("trained_on", key=lambda s: s != dataset, kind="stable")
    first = obs.iloc[0]
    row = dict(model="observer2", method=registry.label("observer2"), rule="none",
               n_seeds=np.nan, seeds="")
    for m in metrics:
        row[f"{m}_mean"] = first[m] if m in first else np.nan
        row[f"{m}_std"] = np.nan
    return [row]

