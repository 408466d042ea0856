"""Model-level summaries: accuracy against cost, and per-model spread across seeds."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from afunet import registry
from afunet.plotting.style import COLUMN_WIDTH, PAGE_WIDTH, is_focus

AXIS_LABELS = {
    "gflops": "GFLOPs per image",
    "flops": "FLOPs per image",
    "params": "Parameters (millions)",
    "latency_ms": "Latency (ms per image)",
    "seconds": "Seconds",
    "f1": "F1",
    "jaccard": "Jaccard",
    "recall": "Recall",
    "precision": "Precision",
    "accuracy": "Accuracy",
    "specificity": "Specificity",
    "auc_roc": "AUC-ROC",
    "auc_pr": "AUC-PR",
    "cldice": "clDice",
    "thin_f1": "Thin-vessel F1",
}
# Label spots tried around a marker, as (direction x, direction y, extra points): beside,
# above / below, diagonal, then farther out with a leader line (twice as far for a crowd).
LABEL_SPOTS = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (1, 1, 0), (1, -1, 0), (-1, 1, 0)]
LABEL_SPOTS += [(-1, -1, 0)]
for _far in (12, 24):
    LABEL_SPOTS += [(ux, uy, _far) for ux in (1, -1) for uy in (1, -1)]
    LABEL_SPOTS += [(0, 1, _far), (0, -1, _far), (1, 0, _far + 2), (-1, 0, _far + 2)]


def _axis_label(col: str) -> str:
    """Readable axis label of a column."""
    return AXIS_LABELS.get(col, col.replace("_", " "))


def _scaled(values: pd.Series, col: str) -> pd.Series:
    """Parameters in millions (raw counts make unreadable tick labels)."""
    return values / 1e6 if col == "params" and values.max() > 1e4 else values


def _aggregate(df: pd.DataFrame, label: str, y: str) -> pd.DataFrame:
    """One row per model: means, with y's standard deviation as y_std when seeds repeat."""
    if not df[label].duplicated().any():
        return df.set_index(label)
    numeric = df.select_dtypes("number").columns.drop(f"{y}_std", errors="ignore")
    out = df.groupby(label, sort=False)[list(numeric)].mean()
    out[f"{y}_std"] = df.groupby(label, sort=False)[y].std(ddof=1)
    return out


def _log_ticks(ax, values) -> None:
    """Plain-number ticks (1, 2, 5, 20, ...) on a log x axis, even over a narrow range."""
    lo, hi = ax.get_xlim()
    k = np.arange(np.floor(np.log10(lo)) - 1, np.ceil(np.log10(hi)) + 1)
    cands = np.unique(np.outer(10.0**k, (1, 1.5, 2, 3, 4, 5, 6, 8)).ravel())
    cands = cands[(cands >= lo) & (cands <= hi)]
    if len(cands) < 3:  # a narrow range: add intermediate steps
        more = np.outer(10.0**k, (1.2, 2.5)).ravel()
        cands = np.unique(np.r_[cands, more[(more >= lo) & (more <= hi)]])
    # no round candidate in a very narrow range: the values themselves, to 3 significant digits
    ticks = np.unique([float(f"{v:.3g}") for v in np.asarray(values, dtype=float)])[:6]
    for step in range(1, len(cands) + 1):  # the densest regular subset with at most 6 ticks
        ticks = cands[::step]
        if len(ticks) <= 6:
            break
    ax.xaxis.set_major_locator(mticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(mticker.NullLocator())


def _overlap(a: Bbox, b: Bbox) -> float:
    """Area (pixels^2) shared by two boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def _obstacles(ax, xs, ys, areas, std) -> list[Bbox]:
    """Display-space boxes of the markers and error bars that labels must not cover."""
    to_px = ax.figure.dpi / 72.0
    out = []
    for x, y, area, sd in zip(xs, ys, areas, std, strict=True):
        cx, cy = ax.transData.transform((x, y))
        r = np.sqrt(area) / 2 * to_px
        out.append(Bbox.from_extents(cx - r, cy - r, cx + r, cy + r))
        if sd > 0:
            _, top = ax.transData.transform((x, y + sd))
            _, bottom = ax.transData.transform((x, y - sd))
            out.append(Bbox.from_extents(cx - 3 * to_px, bottom, cx + 3 * to_px, top))
    return out


def _place_labels(ax, xs, ys, texts, colors, areas, obstacles) -> list:
    """Annotate points where labels overlap least with labels, markers and error bars.

    Returns the annotations placed. A label may reach past the axes where every spot inside
    is taken; `efficiency_plot` then widens the axis and places the labels again.
    """
    renderer = ax.figure.canvas.get_renderer()
    to_px = ax.figure.dpi / 72.0
    labels: list[Bbox] = []
    placed = []
    spots = list(zip(xs, ys, texts, colors, areas, strict=True))
    # AF-UNet first: the model the figure is about gets the nearest free spot.
    spots.sort(key=lambda s: s[2] != registry.label(registry.PAPER_MODEL))
    for x, y, text, color, area in spots:
        gap = np.sqrt(area) / 2 + 2  # marker radius in points, plus a small margin
        best = None
        for ux, uy, extra in LABEL_SPOTS:
            ann = ax.annotate(
                text,
                (x, y),
                xytext=(ux * (gap + extra), uy * (gap + extra)),
                textcoords="offset points",
                ha={1: "left", 0: "center", -1: "right"}[ux],
                va={1: "bottom", 0: "center", -1: "top"}[uy],
                fontsize=7,
                color=color,
                fontweight="bold" if text == registry.label(registry.PAPER_MODEL) else "normal",
                # A far label gets a thin leader line so that it still points at its marker.
                arrowprops={
                    "arrowstyle": "-",
                    "color": "0.6",
                    "lw": 0.6,
                    "shrinkA": 1,
                    "shrinkB": gap - 1,
                }
                if extra
                else None,
            )
            ann.set_in_layout(False)  # labels must not make constrained layout move the axes
            # The text alone: an annotation's own extent also spans its leader line, which
            # always reaches the marker and would make every far spot look occupied.
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer)
            # Text over text is unreadable, over a marker or error bar only untidy; a far spot
            # costs a strip along its leader line, so a label moves out only to avoid more.
            cost = 4 * sum(_overlap(box, b) for b in labels)
            cost += 3 * sum(_overlap(box, b) for b in obstacles)
            cost += box.width * box.height - _overlap(box, ax.bbox)  # outside the axes
            cost += extra * to_px * box.height
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        labels.append(best[2])
        placed.append(best[1])
    return placed


def _overhang(ax, annotations) -> tuple[float, float]:
    """How far (pixels) the placed labels reach past the axes' left and right edges."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = [Text.get_window_extent(a, renderer) for a in annotations]
    left = max([ax.bbox.x0 - b.x0 for b in boxes] + [0.0])
    right = max([b.x1 - ax.bbox.x1 for b in boxes] + [0.0])
    return left, right


def _widen(ax, left: float, right: float) -> None:
    """Widen a log x axis by ``left`` / ``right`` pixels (plus a margin) on either side."""
    lo, hi = np.log10(ax.get_xlim())
    per_px = (hi - lo) / ax.bbox.width
    pad = 4  # pixels between a label and the spine
    ax.set_xlim(10 ** (lo - (left + pad) * per_px if left else lo),
                10 ** (hi + (right + pad) * per_px if right else hi))


def efficiency_plot(
    df: pd.DataFrame,
    x: str = "gflops",
    y: str = "f1",
    size: str | None = "params",
    label: str = "model",
    ax=None,
    extra: tuple[str, ...] = ("params", "latency_ms"),
    title: str | None = None,
):
    """Accuracy against computational cost, one labelled marker per model; returns the Figure.

    Rows repeating a model (seeds) are averaged, the std of ``y`` drawn as error bars (else a
    ``{y}_std`` column is used). Log x axis: costs differ by orders of magnitude. Without ``ax``,
    each ``extra`` column present gets its own panel; ``size`` sets marker area (None: equal).
    Pass ``title`` here, not ``fig.suptitle`` later: that would shrink the axes and move the
    markers away from their placed labels.
    """
    for col in (label, x, y):
        if col not in df.columns:
            raise ValueError(f"efficiency_plot: column {col!r} missing (have {list(df.columns)})")
    agg = _aggregate(df, label, y)
    agg = agg.loc[registry.order(agg.index)]
    cols = [x] if ax is not None else [x, *[c for c in extra if c in agg.columns and c != x]]
    if ax is None:
        fig, axes = plt.subplots(
            1,
            len(cols),
            figsize=(min(COLUMN_WIDTH * len(cols), PAGE_WIDTH), 2.6),
            sharey=True,
            squeeze=False,
        )
        axes = list(axes[0])
    else:
        fig, axes = ax.figure, [ax]
    if size and size in agg.columns and agg[size].max() > 0:
        areas = 25 + 175 * agg[size] / agg[size].max()
    else:
        areas = pd.Series(60.0, index=agg.index)
    colors = [registry.color(m) for m in agg.index]
    std = agg[f"{y}_std"] if f"{y}_std" in agg.columns else None
    for col, axis in zip(cols, axes, strict=True):
        xs = _scaled(agg[col], col)
        if std is not None:
            axis.errorbar(
                xs, agg[y], yerr=std, fmt="none", ecolor="0.55", elinewidth=0.9, capsize=2, zorder=2
            )
        edge = ["black" if is_focus(m) else "white" for m in agg.index]
        axis.scatter(xs, agg[y], s=areas, c=colors, edgecolors=edge, linewidths=0.8, zorder=3)
        axis.set_xscale("log")
        axis.set_xlabel(_axis_label(col))
        axis.margins(x=0.2, y=0.25)
        _log_ticks(axis, xs)
    axes[0].set_ylabel(_axis_label(y))
    if title:
        fig.suptitle(title)
    fig.canvas.draw()  # label placement needs the final axes limits and layout
    for col, axis in zip(cols, axes, strict=True):
        xs = _scaled(agg[col], col)
        sd = std if std is not None else np.zeros(len(agg))
        # Where the best spot of a label still reaches past the axes (a name at the far left
        # or right of a crowded panel), widen the axis by that much and place them all again.
        for attempt in range(3):
            placed = _place_labels(
                axis,
                xs,
                agg[y],
                [registry.label(m) for m in agg.index],
                colors,
                areas,
                _obstacles(axis, xs, agg[y], areas, np.nan_to_num(np.asarray(sd, float))),
            )
            left, right = _overhang(axis, placed)
            if not (left or right) or attempt == 2:
                break
            for ann in placed:
                ann.remove()
            _widen(axis, left, right)
            _log_ticks(axis, xs)
    if size and size in agg.columns and x != size:
        axes[-1].text(
            0.98,
            0.02,
            f"marker area ∝ {_axis_label(size).split(' (')[0].lower()}",
            transform=axes[-1].transAxes,
            ha="right",
            va="bottom",
            fontsize=6.5,
            color="0.4",
        )
    return fig


def metric_bars(df: pd.DataFrame, metric: str = "f1", *, model: str = "model", ax=None):
    """Per-model mean +- std (ddof=1) of a metric across seeds, with each seed's value.

    A dot with an error bar, not a bar: these models differ in the second decimal, which a bar
    from zero would hide and one from elsewhere exaggerate. ``df`` is wide (a ``metric``
    column) or long (``metric`` names and ``value``). Returns the Figure.
    """
    if metric not in df.columns and {"metric", "value"} <= set(df.columns):
        df = df[df["metric"] == metric].rename(columns={"value": metric})
    if metric not in df.columns or df.empty:
        raise ValueError(f"metric_bars: no values of {metric!r} in columns {list(df.columns)}")
    order = registry.order(df[model].unique())
    fig, ax = (
        (ax.figure, ax)
        if ax is not None
        else plt.subplots(figsize=(COLUMN_WIDTH, 0.28 * len(order) + 0.7))
    )
    rng = np.random.default_rng(0)  # fixed jitter: the figure is identical on every run
    for i, name in enumerate(order):
        values = df.loc[df[model] == name, metric].to_numpy(float)
        color = registry.color(name)
        ax.scatter(
            values,
            i + rng.uniform(-0.12, 0.12, values.size),
            s=10,
            color=color,
            alpha=0.55,
            linewidths=0,
            zorder=2,
        )
        sd = values.std(ddof=1) if values.size > 1 else 0.0
        ax.errorbar(
            values.mean(),
            i,
            xerr=sd,
            fmt="o",
            color=color,
            ms=6 if is_focus(name) else 5,
            mec="black" if is_focus(name) else "white",
            capsize=3,
            lw=1.4,
            zorder=3,
        )
    ax.set_yticks(range(len(order)), [registry.label(m) for m in order])
    ax.invert_yaxis()
    ax.set_xlabel(f"{_axis_label(metric)} (mean ± s.d. over seeds)")
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(5))  # metric ticks like 0.805 are wide
    return fig
