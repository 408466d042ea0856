"""Figures of the AF-UNet reproduction: pure functions of arrays / DataFrames returning Figures.

Call ``set_style()`` once, draw, then ``save(fig, "figures/name")`` (PNG and PDF, atomic).

* ``figure2`` / ``worst_region_figure``: the paper's qualitative Figure 2 with zoomed boxes
  picked by ``choose_boxes`` (rule in ``BOX_RULE``); ``error_overlay`` colours TP / FP / FN.
* ``pr_curves``: precision-recall curves with iso-F1 lines and operating points.
* ``efficiency_plot``, ``metric_bars``: accuracy against cost; spread across seeds.
* ``learning_curves``: loss and validation F1 per epoch.
* ``ablation_figure``: AF-UNet's skip-source variants, on scales that show their differences.
"""

from afunet.plotting.ablation import ablation_figure
from afunet.plotting.architecture import draw_architecture
from afunet.plotting.boxes import BOX_RULE, choose_boxes, default_box_size
from afunet.plotting.curves import learning_curves, pr_curves
from afunet.plotting.figure2 import BOX_COLORS, figure2, worst_region_figure
from afunet.plotting.overlays import OVERLAY_COLORS, OVERLAY_LEGEND, error_overlay
from afunet.plotting.style import save, set_style
from afunet.plotting.summary import efficiency_plot, metric_bars

__all__ = [
    "BOX_COLORS",
    "BOX_RULE",
    "OVERLAY_COLORS",
    "OVERLAY_LEGEND",
    "ablation_figure",
    "choose_boxes",
    "default_box_size",
    "draw_architecture",
    "efficiency_plot",
    "error_overlay",
    "figure2",
    "learning_curves",
    "metric_bars",
    "pr_curves",
    "save",
    "set_style",
    "worst_region_figure",
]
