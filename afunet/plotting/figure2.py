"""The paper's Figure 2 (image, ground truth, each model's segmentation, zoomed boxes)."""

from __future__ import annotations

import string
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.patheffects import withStroke

from afunet import registry
from afunet.plotting.overlays import OVERLAY_LEGEND, crop, error_overlay
from afunet.plotting.style import PAGE_WIDTH

# Red and green as in the paper. Their meaning is also written next to each inset row, so a
# reader who cannot tell red from green still knows which box is which.
BOX_COLORS = {"red": "#FF1F1F", "green": "#22DD22", "worst": "#FF1F1F"}
BOX_MEANING = {"red": "complex\nstructure", "green": "thin\nvessels", "worst": "worst\nregion"}
BOX_LINEWIDTH = 1.6
INSET_FRAME_WIDTH = 2.2
# Narrowest panel (inches): eight columns (six models) still fit a 7.2-inch page with titles
# wrapped onto two lines.
MIN_PANEL_WIDTH = 0.85
TITLE_CHAR_WIDTH = 0.55  # average glyph width of the sans-serif font, in ems


def _wrap(label: str, panel: float) -> str:
    """Break a panel title onto more lines when it is wider than its panel (inches)."""
    size = FontProperties(size=plt.rcParams["axes.titlesize"]).get_size_in_points()
    chars = int(panel * 72 / (TITLE_CHAR_WIDTH * size))
    return "\n".join(
        "\n".join(textwrap.wrap(line, max(chars, 8), break_on_hyphens=False))
        for line in label.split("\n")
    )


def _box_list(boxes) -> list[tuple[str, tuple[int, int, int, int], str]]:
    """(kind, box, tag) to draw on Figure 2: red boxes, then green; tags number same-kind boxes."""
    out = []
    for kind in ("red", "green"):
        same = [tuple(int(v) for v in b) for b in (boxes or {}).get(kind, [])]
        out += [(kind, b, str(i) if len(same) > 1 else "") for i, b in enumerate(same, 1)]
    return out


def _image_axes(ax) -> None:
    """Hide ticks and the axes frame of an image panel."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _frame(ax, color: str, width: float) -> None:
    """Draw all four spines of an image axes in one colour (inset frames)."""
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


def _draw_box(ax, box, color: str, linewidth: float = BOX_LINEWIDTH) -> None:
    """Outline a (y0, x0, h, w) box on an image axes (pixel edges at half-integers)."""
    y0, x0, h, w = box
    ax.add_patch(
        Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, edgecolor=color, linewidth=linewidth)
    )


def _panels(image, target, preds, overlay: bool, fov):
    """(title, array, cmap) of each column: image, ground truth, then each model."""
    letters = iter(string.ascii_lowercase)
    cols = [
        (f"({next(letters)}) Test image", np.asarray(image), None),
        (f"({next(letters)}) Ground truth", np.asarray(target, bool), "gray"),
    ]
    for name, pred in preds.items():
        pred = np.asarray(pred, bool)
        shown = error_overlay(image, pred, target, fov) if overlay else pred
        cols.append((f"({next(letters)}) {registry.label(name)}", shown, "gray"))
    return cols


def figure2(
    image,
    target,
    preds: dict[str, np.ndarray],
    boxes: dict | None = None,
    *,
    title: str | None = None,
    overlay: bool = False,
    fov=None,
):
    """Regenerate the paper's Figure 2 with zoomed insets of the chosen boxes; returns the Figure.

    Top row: (a) ``image`` (H, W, 3) uint8, (b) ground truth, then each model of ``preds`` (key ->
    bool map, in order) as a mask, or as an error overlay inside ``fov`` when ``overlay``. Each
    "red"/"green" box of ``boxes`` (from ``choose_boxes``) is outlined on every panel and gets a row
    of crops below.
    """
    target = np.asarray(target, bool)
    cols = _panels(image, target, preds, overlay, fov)
    drawn = _box_list(boxes)
    aspect = target.shape[0] / target.shape[1]
    ncols, nrows = len(cols), 1 + len(drawn)
    panel = max(PAGE_WIDTH / ncols, MIN_PANEL_WIDTH)
    # Rows as tall as their images are at the column width (a little under the panel width,
    # after the gaps): taller rows would leave white bands between the panels and the insets.
    ratios = [aspect] + [1.0] * len(drawn)
    height = 0.96 * panel * sum(ratios) + 0.22 + (0.25 if overlay else 0) + (0.25 if title else 0)
    fig = plt.figure(figsize=(panel * ncols, height))
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw={"height_ratios": ratios})
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.02, wspace=0.02, hspace=0.02)

    for j, (label, array, cmap) in enumerate(cols):
        ax = axes[0, j]
        ax.imshow(array, cmap=cmap, vmin=0, vmax=1) if cmap else ax.imshow(array)
        _image_axes(ax)
        ax.set_title(_wrap(label, panel), pad=3)
        for kind, box, tag in drawn:
            _draw_box(ax, box, BOX_COLORS[kind])
            if tag and j == 0:  # several boxes of one colour: number them on the image panel
                ax.text(
                    box[1] + box[3] + 6,
                    box[0] - 2,
                    tag,
                    color=BOX_COLORS[kind],
                    fontsize=8,
                    fontweight="bold",
                    va="top",
                    ha="left",
                    path_effects=[withStroke(linewidth=1.8, foreground="black")],
                )
        for i, (kind, box, tag) in enumerate(drawn, start=1):
            inset = axes[i, j]
            part = crop(array, box)
            inset.imshow(part, cmap=cmap, vmin=0, vmax=1) if cmap else inset.imshow(part)
            _image_axes(inset)
            _frame(inset, BOX_COLORS[kind], INSET_FRAME_WIDTH)
            if j == 0:
                meaning = BOX_MEANING[kind] + (f" ({tag})" if tag else "")
                inset.set_ylabel(meaning, color="0.15", labelpad=4)
    if overlay:
        fig.legend(handles=OVERLAY_LEGEND, loc="outside lower center", ncols=3, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def worst_region_figure(image, target, preds: dict[str, np.ndarray], box, *, fov=None, title=None):
    """Zoom on one (y0, x0, h, w) box with every model's errors; returns the Figure.

    Panels: the image with the box, the box's image and ground truth, then each model's error
    overlay in the box with its errors, FP and FN counts (inside the FOV) written under it.
    """
    target = np.asarray(target, bool)
    inside = np.ones_like(target) if fov is None else np.asarray(fov, bool)
    ncols = 3 + len(preds)
    panel = max(PAGE_WIDTH / ncols, MIN_PANEL_WIDTH)
    # Height: the square panels plus two-line titles and the legend, no white band between.
    lines = title.count("\n") + 1 if title else 0
    fig = plt.figure(figsize=(panel * ncols, 0.96 * panel + 0.8 + 0.2 * lines))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.02, wspace=0.03)

    axes[0].imshow(np.asarray(image))
    _draw_box(axes[0], box, BOX_COLORS["worst"], 1.4)
    axes[0].set_title(_wrap("(a) Test image", panel), pad=3)
    axes[1].imshow(crop(np.asarray(image), box))
    axes[1].set_title(_wrap("(b) Region", panel), pad=3)
    axes[2].imshow(crop(target, box), cmap="gray", vmin=0, vmax=1)
    axes[2].set_title(_wrap("(c) Ground truth", panel), pad=3)
    letters = iter(string.ascii_lowercase[3:])
    t_box, in_box = crop(target, box), crop(inside, box)
    for ax, (name, pred) in zip(axes[3:], preds.items(), strict=True):
        pred = np.asarray(pred, bool)
        ax.imshow(crop(error_overlay(image, pred, target, fov), box))
        p_box = crop(pred, box)
        fp = int(np.count_nonzero(p_box & ~t_box & in_box))
        fn = int(np.count_nonzero(~p_box & t_box & in_box))
        ax.set_title(_wrap(f"({next(letters)}) {registry.label(name)}", panel), pad=3)
        # Counts under the panel, smaller than the title, so neighbours' numbers never touch.
        ax.set_xlabel(f"{fp + fn} errors\nFP {fp}, FN {fn}", fontsize=7, labelpad=2,
                      linespacing=1.1)
    for ax in axes:
        _image_axes(ax)
    for ax in axes[1:]:
        _frame(ax, BOX_COLORS["worst"], INSET_FRAME_WIDTH)
    fig.legend(handles=OVERLAY_LEGEND, loc="outside lower center", ncols=3, frameon=False)
    if title:
        fig.suptitle(title)
    return fig
