"""The skip-source ablation of AF-UNet: validation F1 per epoch, test scores against the default."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from afunet import registry
from afunet.plotting.style import PAGE_WIDTH
from afunet.plotting.summary import AXIS_LABELS

# "none" is U-Net's wiring and gets U-Net's colour; "adjacent" is AF-UNet as the study trains it.
VARIANT_COLORS = {"adjacent": registry.color("afunet"), "first": "#222222",
                  "none": registry.color("unet")}
VARIANT_LABELS = {"adjacent": "adjacent (default)", "first": "first", "none": "none (= U-Net)"}
DIFF_METRICS = ("f1", "jaccard", "recall", "precision", "cldice", "thin_f1", "auc_roc", "auc_pr")
SMOOTH = 5  # epochs of the centred running mean drawn over each validation curve


def _cut_limits(curves: dict[str, pd.DataFrame]) -> tuple[float, float]:
    """Validation F1 limits over the last two thirds of training, where the variants differ."""
    values = []
    for log in curves.values():
        late = log[log["epoch"] >= log["epoch"].max() / 3]
        values += [late["val_f1"].rolling(SMOOTH, center=True, min_periods=1).mean().min(),
                   late["val_f1"].max()]
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = max(0.1 * (hi - lo), 0.002)
    return max(lo - pad, 0.0), min(hi + pad, 1.0)


def _axis_break(ax) -> None:
    """Two short slanted strokes across the bottom of the y axis: it does not start at 0."""
    for dy in (0.0, 0.025):
        ax.plot([-0.018, 0.018], [0.01 + dy, 0.035 + dy], transform=ax.transAxes, color="0.2",
                lw=0.8, clip_on=False, zorder=5)


def ablation_figure(table: pd.DataFrame, logs: dict[str, pd.DataFrame], *,
                    noise: dict[str, float] | None = None, metrics=DIFF_METRICS,
                    threshold: str = "threshold 0.5", title: str | None = None):
    """Two panels on scales that show differences of a few thousandths; returns the Figure.

    (a) each variant's validation F1 per epoch (thin: per epoch; thick: running mean over
    ``SMOOTH`` epochs; dot: the kept epoch, lowest validation loss), on a y axis cut to the
    last two thirds of training and marked as cut (where that range does not reach 0). (b) each variant's test score minus the
    default ``adjacent`` one, per metric, with error bars of ±√2 × ``noise`` (metric -> s.d.
    of one run over seeds): the spread of a difference between two runs that differ only
    in their seed, so a difference inside its bar is within seed noise.

    Args:
        table: `reporting.ablation_table` rows of one threshold rule (variant, present, metrics).
        logs: variant -> its run's log.csv (epoch, val_f1, val_loss), for the variants present.
        threshold: that rule, as the x label of (b) names it.
    """
    fig, (ax_val, ax_diff) = plt.subplots(
        1, 2, figsize=(PAGE_WIDTH, 2.9), gridspec_kw={"width_ratios": [1.15, 1]})
    variants = [v for v in VARIANT_COLORS if v in logs]
    for variant in variants:
        log = logs[variant].sort_values("epoch")
        color = VARIANT_COLORS[variant]
        smooth = log["val_f1"].rolling(SMOOTH, center=True, min_periods=1).mean()
        ax_val.plot(log["epoch"], log["val_f1"], color=color, lw=0.6, alpha=0.35, zorder=2)
        ax_val.plot(log["epoch"], smooth, color=color, lw=1.6 if variant == "adjacent" else 1.2,
                    label=VARIANT_LABELS[variant], zorder=3)
        if log["val_loss"].notna().any():
            best = log.loc[log["val_loss"].idxmin()]
            ax_val.plot(best["epoch"], best["val_f1"], "o", color=color, ms=4.5, mec="white",
                        mew=0.6, zorder=4)
    if variants:
        lo, hi = _cut_limits({v: logs[v] for v in variants})
        ax_val.set_ylim(lo, hi)
        # Start the x axis where the first curve comes into view: the epochs before lie below.
        start = np.nanmin([float(logs[v].loc[logs[v]["val_f1"] >= lo, "epoch"].min())
                           for v in variants])
        end = max(float(logs[v]["epoch"].max()) for v in variants)
        if np.isfinite(start) and start < end:
            ax_val.set_xlim(start - 0.02 * (end - start), end + 0.02 * (end - start))
        cut = f"\ny axis cut: starts at {lo:.3f}, not 0" if lo > 0 else ""
        if cut:
            _axis_break(ax_val)
        ax_val.text(0.98, 0.03, f"thin: each epoch; thick: {SMOOTH}-epoch mean{cut}",
                    transform=ax_val.transAxes,
                    ha="right", va="bottom", fontsize=6.5, color="0.35", zorder=6,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})
        ax_val.plot([], [], "o", color="0.5", ms=4.5, mec="white", label="kept epoch")
        ax_val.legend(loc="upper left", frameon=True, framealpha=0.9, edgecolor="none",
                      fontsize=6.5)
    else:
        ax_val.text(0.5, 0.5, "no ablation run yet", ha="center", va="center",
                    transform=ax_val.transAxes)
    ax_val.set(xlabel="Epoch", ylabel="Validation F1 (threshold 0.5)")
    ax_val.set_title("(a) Validation F1 during training", loc="left")

    rows = table.set_index("variant")
    present = [v for v in VARIANT_COLORS if v in rows.index and bool(rows.loc[v, "present"])]
    metrics = [m for m in metrics if m in rows.columns]
    if noise and not np.isfinite([noise.get(m, np.nan) for m in metrics]).any():
        noise = None  # fewer than two seeds anywhere: no bars, and no note about them
    others = [v for v in present if v != "adjacent"]
    ys = np.arange(len(metrics))
    if "adjacent" in present and others:
        ax_diff.axvline(0, color=VARIANT_COLORS["adjacent"], lw=1.2, zorder=1,
                        label=VARIANT_LABELS["adjacent"])
        step = 0.36 / max(len(others) - 1, 1)
        for k, variant in enumerate(others):
            diff = np.array([rows.loc[variant, m] - rows.loc["adjacent", m] for m in metrics],
                            float)
            err = None
            if noise:
                err = np.sqrt(2) * np.array([noise.get(m, np.nan) for m in metrics], float)
            offset = (k - (len(others) - 1) / 2) * step if len(others) > 1 else 0.0
            ax_diff.errorbar(diff, ys + offset, xerr=err, fmt="o", color=VARIANT_COLORS[variant],
                             ms=4.5, mec="white", mew=0.6, elinewidth=0.9, capsize=2,
                             label=VARIANT_LABELS[variant], zorder=3)
        lim = np.nanmax(np.abs(ax_diff.get_xlim()))
        ax_diff.set_xlim(-lim, lim)  # symmetric: better and worse than adjacent look alike
        ax_diff.legend(loc="lower right", frameon=True, framealpha=0.9, edgecolor="none",
                       fontsize=6.5)
    else:
        ax_diff.text(0.5, 0.5, "needs the adjacent run and another variant", ha="center",
                     va="center", transform=ax_diff.transAxes)
    ax_diff.set_yticks(ys, [AXIS_LABELS.get(m, m) for m in metrics])
    ax_diff.set_ylim(len(metrics) - 0.5, -0.5)
    ax_diff.grid(axis="y", visible=False)
    bars = "\nbars: ±1 s.d. of a difference between two seeds of one model" if noise else ""
    ax_diff.set_xlabel(f"Variant minus adjacent (test set, {threshold}){bars}")
    ax_diff.set_title("(b) Test scores minus the default's", loc="left")
    if title:
        fig.suptitle(title)
    return fig
