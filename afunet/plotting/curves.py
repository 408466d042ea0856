"""Precision-recall curves with iso-F1 lines, and training curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from afunet import registry
from afunet.plotting.style import COLUMN_WIDTH, is_focus

ISO_F1 = (0.5, 0.6, 0.7, 0.8, 0.9)


def _figure_and_axes(ax, figsize):
    """The given axes and its figure, or a new single-axes figure."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def iso_f1(ax, levels=ISO_F1, lo: float = 0.0) -> None:
    """Draw labelled iso-F1 lines (precision = F r / (2r - F)) on a recall-precision axes."""
    for f in levels:
        r = np.linspace(max(f / (2 - f), lo) + 1e-9, 1, 200)  # precision <= 1 from r = F/(2-F)
        p = f * r / (2 * r - f)
        keep = p >= lo
        if not keep.any():  # the whole line lies below the zoomed-in corner
            continue
        ax.plot(r[keep], p[keep], color="0.72", lw=0.7, ls="--", zorder=1)
        # Label at the line's right end: beside the axes when it reaches recall 1, else just
        # above the bottom axis where it leaves a zoomed-in plot.
        at_right = keep[-1]
        ax.annotate(
            f"F1={f:.1f}",
            xy=(r[keep][-1], p[keep][-1]),
            xytext=(2, 0) if at_right else (3, 2),
            textcoords="offset points",
            fontsize=6.5,
            color="0.45",
            va="center" if at_right else "bottom",
            ha="left",
        )


def pr_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    points: dict[str, tuple[float, float]] | None = None,
    observer: tuple[float, float] | None = None,
    ax=None,
    title: str | None = None,
    lo: float = 0.0,
):
    """PR curves of several models with iso-F1 lines and operating points; returns the Figure.

    Args:
        curves: model key -> (precision, recall), precision first as ``metrics.pr_curve`` returns.
        points: model key -> (recall, precision) of its thresholded segmentation (a marker).
        observer: (recall, precision) of the second human observer (a black star), or None.
        lo: lower limit of both axes (e.g. 0.5 to zoom on the useful corner).
    """
    fig, ax = _figure_and_axes(ax, (COLUMN_WIDTH, COLUMN_WIDTH * 0.95))
    iso_f1(ax, lo=lo)
    names = list(dict.fromkeys([*curves, *(points or {})]))
    # The focus model is drawn last so that it lies on top of the others.
    for name in sorted(names, key=is_focus):
        color, width = registry.color(name), (2.0 if is_focus(name) else 1.2)
        label = registry.label(name)
        if name in curves:
            precision, recall = (np.asarray(a, float) for a in curves[name])
            ax.plot(recall, precision, color=color, lw=width, label=label, zorder=3)
            label = None  # the curve already carries the legend entry
        if points and name in points:
            r, p = points[name]
            ax.plot(r, p, "o", color=color, ms=5, mec="white", mew=0.7, label=label, zorder=4)
    if observer is not None:
        ax.plot(
            *observer,
            "*",
            color="black",
            ms=10,
            mec="white",
            mew=0.6,
            zorder=5,
            label="2nd observer",
        )
    if points:  # one grey legend entry explains every model's dot
        ax.plot([], [], "o", color="0.5", ms=5, mec="white", mew=0.7, label="Operating point")
    ax.set(xlim=(lo, 1.0), ylim=(lo, 1.005), xlabel="Recall", ylabel="Precision")
    ax.set_aspect("equal")
    ax.legend(loc="lower left", frameon=True, framealpha=0.9, edgecolor="none")
    if title:
        ax.set_title(title)
    return fig


def learning_curves(log, *, title: str | None = None):
    """Loss and validation F1 per epoch from a log.csv DataFrame; returns the Figure.

    The best epoch (lowest validation loss, the checkpoint kept) is marked on both panels.
    """
    missing = {"epoch", "train_loss", "val_loss", "val_f1"} - set(log.columns)
    if missing:
        raise ValueError(f"log lacks columns {sorted(missing)} (expected a training log.csv)")
    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH, 2.3))
    ax_loss.plot(log["epoch"], log["train_loss"], color="#0072B2", label="Training")
    ax_loss.plot(log["epoch"], log["val_loss"], color="#D55E00", label="Validation")
    ax_f1.plot(log["epoch"], log["val_f1"], color="#D55E00", label="Validation")
    ax_loss.set(xlabel="Epoch", ylabel="Loss (Dice + BCE)")
    ax_f1.set(xlabel="Epoch", ylabel="F1")
    if log["val_loss"].notna().any():
        best = log.loc[log["val_loss"].idxmin()]
        for ax in (ax_loss, ax_f1):
            ax.axvline(best["epoch"], color="0.35", ls=":", lw=1, zorder=0)
        ax_loss.plot(best["epoch"], best["val_loss"], "o", color="#D55E00", ms=4)
        ax_f1.plot(best["epoch"], best["val_f1"], "o", color="#D55E00", ms=4)
        ax_f1.annotate(
            f"best epoch {int(best['epoch'])}\nF1 {best['val_f1']:.3f}",
            xy=(best["epoch"], best["val_f1"]),
            xytext=(6, -6),
            textcoords="offset points",
            fontsize=7,
            va="top",
        )
    ax_loss.legend(frameon=False)
    if title:
        fig.suptitle(title)
    return fig
