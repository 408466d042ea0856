"""Precision-recall curves with iso-F1 lines, and training curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from afunet import registry
from afunet.plotting.style import COLUMN_WIDTH, is_focus

ISO_F1 = (0.5, 0.6, 0.7, 0.8, 0.9)
MAX_ZOOM = 0.4  # widest zoom window (recall and precision) worth an inset


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


def zoom_window(points, pad: float = 0.015,
                share: float = 0.25) -> tuple[float, float, float, float]:
    """A square (r0, r1, p0, p1) around (recall, precision) points, inside the unit square.

    Centred on the points' bounding box, its side is the box's longer side plus ``share`` of
    it and ``pad`` on either side: every point lies inside, with room for the curves around it.
    """
    r, p = (np.asarray(v, float) for v in zip(*points, strict=True))
    span = max(np.ptp(r), np.ptp(p))
    half = min(span / 2 * (1 + share) + pad, 0.5)
    lo_r = float(np.clip((r.min() + r.max()) / 2 - half, 0.0, 1.0 - 2 * half))
    lo_p = float(np.clip((p.min() + p.max()) / 2 - half, 0.0, 1.0 - 2 * half))
    return lo_r, lo_r + 2 * half, lo_p, lo_p + 2 * half


def _iso_f1_in_window(ax, window) -> None:
    """Iso-F1 lines at a round step (2-5 of them) across a zoomed window, labelled at its top."""
    r0, r1, p0, p1 = window
    f_lo, f_hi = (2 * p * r / (p + r) if p + r > 0 else 0.0 for r, p in ((r0, p0), (r1, p1)))
    for step in (0.002, 0.005, 0.01, 0.02, 0.05, 0.1):
        levels = np.arange(np.ceil(f_lo / step), np.floor(f_hi / step) + 1) * step
        if len(levels) <= 5:
            break
    for f in levels:
        r = np.linspace(max(r0, f / (2 - f) + 1e-9), r1, 200)
        p = f * r / (2 * r - f)
        keep = (p >= p0) & (p <= p1)
        if keep.sum() < 2:
            continue
        ax.plot(r[keep], p[keep], color="0.72", lw=0.6, ls="--", zorder=1)
        # Label where the line enters the window (its top-left end), inside the frame; not
        # where that end is so near the right or bottom edge that the label would leave it.
        if (r[keep][0] - r0) / (r1 - r0) > 0.7 or (p[keep][0] - p0) / (p1 - p0) < 0.15:
            continue
        ax.annotate(f"F1={f:.3g}", xy=(r[keep][0], p[keep][0]), xytext=(1.5, -1.5),
                    textcoords="offset points", fontsize=5.5, color="0.45", ha="left",
                    va="top", zorder=2)


def _draw_models(ax, curves, points, names, scale: float = 1.0, labels: bool = True) -> None:
    """Each model's curve and operating point in its registry colour (the focus model last)."""
    for name in sorted(names, key=is_focus):
        color, width = registry.color(name), (2.0 if is_focus(name) else 1.2) * scale
        label = registry.label(name) if labels else None
        if name in curves:
            precision, recall = (np.asarray(a, float) for a in curves[name])
            ax.plot(recall, precision, color=color, lw=width, label=label, zorder=3)
            label = None  # the curve already carries the legend entry
        if points and name in points:
            r, p = points[name]
            ms = (6.5 if is_focus(name) else 5.5) if scale < 1 else 5
            ax.plot(r, p, "o", color=color, ms=ms, mec="white", mew=0.7, label=label, zorder=4)


def _draw_observer(ax, observer, ms: float = 10, label: str | None = None) -> None:
    """The second observer's (recall, precision) as a black star."""
    ax.plot(*observer, "*", color="black", ms=ms, mec="white", mew=0.6, zorder=5, label=label)


def pr_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    points: dict[str, tuple[float, float]] | None = None,
    observer: tuple[float, float] | None = None,
    ax=None,
    title: str | None = None,
    lo: float = 0.0,
    inset: bool = True,
):
    """PR curves of several models with iso-F1 lines and operating points; returns the Figure.

    With curves and operating points on the full square (``lo`` 0), ``inset`` adds a zoomed
    inset on the operating points (`zoom_window`, if at most ``MAX_ZOOM`` wide), where the
    curves lie within a few hundredths of each other: the same colours, finer iso-F1 lines,
    the zoomed area outlined on the main axes. The legend then stands below the axes,
    leaving the inset room.

    Args:
        curves: model key -> (precision, recall), precision first as ``metrics.pr_curve`` returns.
        points: model key -> (recall, precision) of its thresholded segmentation (a marker).
        observer: (recall, precision) of the second human observer (a black star), or None.
        lo: lower limit of both axes (e.g. 0.5 to zoom on the useful corner).
    """
    zoom = inset and bool(points) and bool(curves) and lo == 0.0
    if zoom:
        window = zoom_window(list(points.values()))
        zoom = window[1] - window[0] <= MAX_ZOOM  # points spread over the plot: nothing to zoom
    height = COLUMN_WIDTH * (1.2 if zoom else 0.95)
    fig, ax = _figure_and_axes(ax, (COLUMN_WIDTH, height))
    iso_f1(ax, lo=lo)
    names = list(dict.fromkeys([*curves, *(points or {})]))
    _draw_models(ax, curves, points, names)  # the focus model last, on top of the others
    if observer is not None:
        _draw_observer(ax, observer, label="2nd observer")
    if points:  # one grey legend entry explains every model's dot
        ax.plot([], [], "o", color="0.5", ms=5, mec="white", mew=0.7, label="Operating point")
    ax.set(xlim=(lo, 1.0), ylim=(lo, 1.005), xlabel="Recall", ylabel="Precision")
    ax.set_aspect("equal")
    if zoom:
        # The empty lower-left corner of the square: no curve passes below precision 0.6
        # at recall under 0.6 (a curve falls only near recall 1).
        sub = ax.inset_axes([0.13, 0.09, 0.5, 0.5])
        sub.set_facecolor("white")
        sub.set_zorder(6)
        _iso_f1_in_window(sub, window)
        _draw_models(sub, curves, points, names, scale=0.85, labels=False)
        # The star only when it lies wholly inside (a star cut by the frame reads as a glitch).
        margin = 0.04 * (window[1] - window[0])
        if observer is not None and window[0] + margin <= observer[0] <= window[1] - margin \
                and window[2] + margin <= observer[1] <= window[3] - margin:
            _draw_observer(sub, observer, ms=9)
        sub.set(xlim=window[:2], ylim=window[2:])
        sub.set_aspect("equal")
        sub.tick_params(labelsize=5.5, length=2, pad=1)
        for axis in (sub.xaxis, sub.yaxis):
            axis.set_major_locator(MaxNLocator(3))
        for spine in ("top", "right"):
            sub.spines[spine].set_visible(True)
        for spine in sub.spines.values():
            spine.set_edgecolor("0.3")
            spine.set_linewidth(0.8)
        sub.set_title("zoom on the operating points", fontsize=6.5, pad=2, color="0.3")
        indicator = ax.indicate_inset_zoom(sub, edgecolor="0.3", alpha=0.9, lw=0.8)
        # matplotlib >= 3.10 returns one InsetIndicator, older releases (rectangle, connectors)
        connectors = getattr(indicator, "connectors", None) or indicator[1]
        for line in connectors:
            line.set(color="0.55", lw=0.6, ls=":")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False,
                  handlelength=1.6, columnspacing=1.2)
    else:
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
