"""The architecture of a U-Net-family model, drawn from what `afunet.models.trace` recorded."""

from __future__ import annotations

import math
from itertools import pairwise

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from afunet import registry
from afunet.models.trace import Stage, shape_label

SKIP_COLOR = "0.35"
ASYMMETRIC_COLOR = registry.color(registry.PAPER_MODEL)  # AF-UNet's extra skips
FILL = {"encoder": "#DCEBF7", "bottleneck": "#E6E6E6", "decoder": "#FBE3D0"}


def draw_architecture(stages: list[Stage], ax=None, title: str | None = None):
    """The U of ``trace``'s records: encoder down the left, decoder up the right; returns the axes.

    Boxes carry the recorded shapes (C×H×W; a decoder box its input's channels, part by part).
    Grey arrows are skips at the same level, dashed vermillion ones come from a shallower stage.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    by_name = {s.name: s for s in stages}
    depth = by_name["bottleneck"].level
    box_w, box_h, step = 1.75, 0.66, 0.22
    pos = {"bottleneck": (1.8, -depth)}
    for s in stages:
        kind, _, index = s.name.partition(".")
        if kind == "encoder":
            pos[s.name] = (step * s.level, -s.level)
        elif kind == "decoder":
            pos[s.name] = (3.6 - step * s.level, -s.level)
        if kind in FILL:
            x, y = pos[s.name]
            label = f"{kind} {index}".strip()
            if kind == "decoder":
                label += "\n" + "+".join(str(p.shape[0]) for p in s.parts) + " →"
            label += f"\n{shape_label(s.out_shape)}"
            ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                        boxstyle="round,pad=0,rounding_size=0.08",
                                        fc=FILL[kind], ec="0.4", lw=0.6))
            ax.text(x, y, label, ha="center", va="center", fontsize=6.5, linespacing=1.15)

    def arrow(a, b, **kw):
        style = dict(arrowstyle="-|>", mutation_scale=7, lw=0.9, color="black",
                     shrinkA=0, shrinkB=0)
        ax.add_patch(FancyArrowPatch(a, b, **(style | kw)))

    encoders = sorted((n for n in pos if n.startswith("encoder.")), key=lambda n: pos[n][1],
                      reverse=True)
    decoders = sorted((n for n in pos if n.startswith("decoder.")), key=lambda n: pos[n][1])
    down = [*encoders, "bottleneck"]
    for a, b in pairwise(down):  # max-pool to the next level
        (xa, ya), (xb, yb) = pos[a], pos[b]
        arrow((xa, ya - box_h / 2), (xb - box_w / 2 + 0.2 if b == "bottleneck" else xb,
                                     yb + box_h / 2))
    up = ["bottleneck", *decoders]
    for a, b in pairwise(up):  # transposed conv to the next level up
        (xa, ya), (xb, yb) = pos[a], pos[b]
        arrow((xa + box_w / 2 - 0.2 if a == "bottleneck" else xa, ya + box_h / 2),
              (xb, yb - box_h / 2))
    styles = {}
    for name in decoders:
        for part in by_name[name].parts:
            if part.source is None or part.source not in pos or part.role == "up-sampled":
                continue
            (xa, ya), (xb, yb) = pos[part.source], pos[name]
            if ya == yb:
                kw = dict(color=SKIP_COLOR)
                arrow((xa + box_w / 2, ya), (xb - box_w / 2, yb), **kw)
            else:  # from a shallower stage: leave its lower right corner, enter the upper left
                kw = dict(color=ASYMMETRIC_COLOR, linestyle=(0, (3, 2)))
                (x0, y0), (x1, y1) = (xa + box_w / 2, ya - box_h / 4), (xb - box_w / 2,
                                                                       yb + box_h / 4)
                arrow((x0, y0), (x1, y1), **kw)
                # Written along the arrow, just above it (the angle is in data coordinates).
                ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.04, f"max-pool {part.pool}×{part.pool}",
                        rotation=math.degrees(math.atan2(y1 - y0, x1 - x0)),
                        transform_rotates_text=True, rotation_mode="anchor", ha="center",
                        va="bottom", fontsize=5.5, color=ASYMMETRIC_COLOR)
            label = "skip (copy)" if ya == yb else "asymmetric skip (max-pooled)"
            if part.via:
                label = f"skip through {part.via.split('.')[0]}"
            styles.setdefault(label, kw)
    first, last = by_name[encoders[0]], by_name["head"]
    ax.text(pos[encoders[0]][0], 0.75, f"input {shape_label(first.in_shape)}", fontsize=6,
            ha="center")
    ax.text(pos[decoders[-1]][0], 0.75, f"head 1×1 conv → {shape_label(last.out_shape)}",
            fontsize=6, ha="center")
    arrow((pos[encoders[0]][0], 0.68), (pos[encoders[0]][0], box_h / 2))
    arrow((pos[decoders[-1]][0], box_h / 2), (pos[decoders[-1]][0], 0.68))
    handles = [Line2D([], [], lw=1, **kw, label=label) for label, kw in styles.items()]
    handles.insert(0, Line2D([], [], lw=1, color="black", label="max-pool ↓ / up-conv ↑"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.02), frameon=False,
              fontsize=6, ncols=1)
    ax.set_xlim(-box_w / 2 - 0.1, 3.6 + box_w / 2 + 0.1)
    ax.set_ylim(-depth - box_h / 2 - 0.1, 1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax
