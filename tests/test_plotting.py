"""Plotting: box choice on planted errors, overlay colours, figures render and save, pr_curve."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text

from afunet import plotting, registry
from afunet.data.synthetic import generate
from afunet.metrics import pr_curve
from afunet.plotting.boxes import branch_points, window_grid, window_sums
from afunet.topology import thin_vessel_mask

# Off-screen drawing whatever MPLBACKEND says (switching is allowed before any figure exists).
matplotlib.use("Agg")

SIZE = 21  # default_box_size of a 128 x 128 image


@pytest.fixture(autouse=True)
def _close_figures():
    """Free every figure a test made (matplotlib keeps them alive otherwise)."""
    yield
    plt.close("all")


def _square(shape, centre, half) -> np.ndarray:
    """Bool square of side 2 * half + 1 around centre (y, x), clipped to the image."""
    m = np.zeros(shape, bool)
    y, x = centre
    m[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1] = True
    return m


def _best_window(values, fov, away=(), min_dist=2 * SIZE) -> tuple[int, int]:
    """Centre of the window with the largest sum of values, inside the FOV, far from ``away``."""
    ys, xs = window_grid(values.shape, SIZE, 1)
    sums = window_sums(values.astype(float), SIZE, ys, xs)
    sums[window_sums(fov.astype(float), SIZE, ys, xs) < SIZE * SIZE] = -1  # fully in the FOV
    for cy, cx in away:
        yy, xx = np.meshgrid(ys + SIZE // 2, xs + SIZE // 2, indexing="ij")
        sums[np.maximum(abs(yy - cy), abs(xx - cx)) < min_dist] = -1
    i, j = np.unravel_index(np.argmax(sums), sums.shape)
    return int(ys[i]) + SIZE // 2, int(xs[j]) + SIZE // 2


@pytest.fixture(scope="module")
def planted():
    """A synthetic sample and four 'models' with errors planted in three separate places.

    red: U-Net and ResUNet paint a square of background as vessel around the densest cluster
    of branch points; green: U-Net and ResUNet++ miss the thin vessels where they are densest;
    worst: only AF-UNet paints a small false-positive square on vessel-free background.
    """
    s = generate(2, size=(128, 128))[0]
    target, fov = s.label, s.fov
    red_c = _best_window(branch_points(target), fov)
    thin = thin_vessel_mask(target)
    green_c = _best_window(thin, fov, away=[red_c])
    # Vessel-free spot for AF-UNet's errors: few vessels, so the red rule (branch points) and
    # the green rule (thin vessels) ignore it.
    worst_c = _best_window(fov & ~target, fov, away=[red_c, green_c], min_dist=SIZE + 6)
    red_fp = _square(target.shape, red_c, 12) & fov & ~target
    green_fn = _square(target.shape, green_c, 9) & thin
    worst_fp = _square(target.shape, worst_c, 4) & fov & ~target
    preds = {
        "unet": (target | red_fp) & ~green_fn,
        "resunet": target | red_fp,
        "resunetpp": target & ~green_fn,
        "afunet": target | worst_fp,
    }
    return {"sample": s, "preds": preds, "red": red_c, "green": green_c, "worst": worst_c}


def _contains(box, point) -> bool:
    y0, x0, h, w = box
    return y0 <= point[0] < y0 + h and x0 <= point[1] < x0 + w


def _overlap(a, b) -> bool:
    return not (
        a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
    )


def test_choose_boxes_lands_on_planted_errors(planted):
    s = planted["sample"]
    boxes = plotting.choose_boxes(planted["preds"], s.label, s.fov)
    assert set(boxes) == {"red", "green", "worst"}
    assert all(len(boxes[k]) == 1 for k in boxes)
    assert _contains(boxes["green"][0], planted["green"]), (boxes, planted["green"])
    assert _contains(boxes["worst"][0], planted["worst"]), (boxes, planted["worst"])
    assert _contains(boxes["red"][0], planted["red"]), (boxes, planted["red"])


def test_choose_boxes_inside_disjoint_deterministic(planted):
    s = planted["sample"]
    h, w = s.label.shape
    kw = {"n_red": 2, "n_green": 3, "n_worst": 2}
    boxes = plotting.choose_boxes(planted["preds"], s.label, s.fov, **kw)
    again = plotting.choose_boxes(planted["preds"], s.label, s.fov, **kw)
    assert boxes == again
    shown = boxes["red"] + boxes["green"]
    for y0, x0, bh, bw in shown + boxes["worst"]:
        assert (bh, bw) == (SIZE, SIZE)
        assert 0 <= y0 and 0 <= x0 and y0 + bh <= h and x0 + bw <= w
        assert all(isinstance(v, int) for v in (y0, x0, bh, bw))
    assert len(boxes["red"]) == 2
    # Turns (red 1, green 1, red 2, ...) keep the runner-up red box off the planted thin vessels.
    assert _contains(boxes["green"][0], planted["green"]), (boxes, planted["green"])
    for group in (shown, boxes["worst"]):  # worst boxes only avoid each other
        for i, a in enumerate(group):
            assert not any(_overlap(a, b) for b in group[i + 1 :]), group


def test_choose_boxes_edge_cases(planted):
    s = planted["sample"]
    same = {"unet": s.label, "afunet": s.label}
    boxes = plotting.choose_boxes(same, s.label, s.fov)
    assert boxes == {"red": [], "green": [], "worst": []}  # no disagreement, no error: no box
    with pytest.raises(ValueError, match="focus model"):
        plotting.choose_boxes({"unet": s.label}, s.label, s.fov)
    with pytest.raises(ValueError, match="exceeds"):
        plotting.choose_boxes(planted["preds"], s.label, s.fov, size=200)
    assert "thin" in plotting.BOX_RULE and "branch points" in plotting.BOX_RULE


def test_error_overlay_colours_planted_pixels():
    s = generate(1, size=(64, 64))[0]
    target, fov = s.label, s.fov
    pred = target.copy()
    fp = tuple(np.argwhere(fov & ~target)[0])
    fn = tuple(np.argwhere(target)[0])
    tp = tuple(np.argwhere(target)[-1])
    outside = tuple(np.argwhere(~fov)[0])
    pred[fp], pred[fn], pred[outside] = True, False, True
    rgb = plotting.error_overlay(s.image, pred, target, fov)
    assert rgb.shape == (64, 64, 3) and rgb.min() >= 0 and rgb.max() <= 1
    for pixel, key in ((fp, "fp"), (fn, "fn"), (tp, "tp")):
        assert np.allclose(rgb[pixel], to_rgb(plotting.OVERLAY_COLORS[key])), key
    assert not np.allclose(rgb[outside], to_rgb(plotting.OVERLAY_COLORS["fp"]))  # not evaluated
    assert len(plotting.OVERLAY_LEGEND) == 3


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_render_and_save(planted, tmp_path):
    plotting.set_style()
    s, preds = planted["sample"], planted["preds"]
    boxes = plotting.choose_boxes(preds, s.label, s.fov, n_green=2)
    figs = {
        "figure2": plotting.figure2(s.image, s.label, preds, boxes, title="synthetic"),
        "figure2_overlay": plotting.figure2(s.image, s.label, preds, boxes, overlay=True),
        "worst": plotting.worst_region_figure(s.image, s.label, preds, boxes["worst"][0]),
    }
    rng = np.random.default_rng(0)
    curves = {}
    for name in preds:
        prob = np.clip(s.label * 0.6 + rng.random(s.label.shape) * 0.5, 0, 1)
        curves[name] = pr_curve(prob, s.label, s.fov, max_points=64)[:2]
    points = {name: (0.8, 0.85) for name in preds}
    figs["pr"] = plotting.pr_curves(curves, points=points, observer=(0.77, 0.81), lo=0.5)
    df = pd.DataFrame(
        {
            "model": [m for m in registry.names() for _ in range(2)],
            "seed": [0, 1] * 6,
            "gflops": np.repeat([55.0, 139.0, 80.0, 70.0, 67.0, 60.0], 2),
            "params": np.repeat([31e6, 36e6, 13e6, 14e6, 35e6, 33e6], 2),
            "latency_ms": np.repeat([12.0, 20.0, 14.0, 16.0, 15.0, 13.0], 2),
            "f1": 0.8 + rng.random(12) * 0.02,
        }
    )
    figs["efficiency"] = plotting.efficiency_plot(df)
    figs["bars"] = plotting.metric_bars(df, "f1")
    epochs = np.arange(1, 11)
    log = pd.DataFrame(
        {
            "epoch": epochs,
            "train_loss": 1 / epochs,
            "val_loss": 1 / epochs + (epochs - 6) ** 2 / 100,
            "val_f1": 0.8 - 1 / epochs / 10,
            "seconds": 1.0,
        }
    )
    figs["learning"] = plotting.learning_curves(log)
    for name, fig in figs.items():
        assert isinstance(fig, Figure), name
    png, pdf = plotting.save(figs["figure2"], tmp_path / "nested" / "figure2")
    assert png.name == "figure2.png" and _is_png(png) and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    # A rebuild from the same results must give the same bytes: no date in the PDF.
    assert b"CreationDate" not in pdf.read_bytes()
    twin = plotting.figure2(s.image, s.label, preds, boxes, title="synthetic")
    again = plotting.save(twin, tmp_path / "again" / "figure2")
    assert [p.read_bytes() for p in again] == [png.read_bytes(), pdf.read_bytes()]
    for name in ("pr", "efficiency", "learning"):
        assert all(p.stat().st_size > 0 for p in plotting.save(figs[name], tmp_path / name))
    assert not list(tmp_path.rglob("*.tmp"))  # the temporary files were renamed


def test_learning_curves_refuses_a_wrong_log():
    with pytest.raises(ValueError, match="val_loss"):
        plotting.learning_curves(pd.DataFrame({"epoch": [1], "train_loss": [1.0]}))


def test_model_colours_are_distinct_and_registered():
    colours = [spec.color for spec in registry.MODELS.values()]
    assert registry.OTHER_COLOR not in colours and len(set(colours)) == len(colours)
    assert registry.label("afunet") == "AF-UNet"


@pytest.mark.parametrize("max_points", [100000, 37, 2])
def test_pr_curve_matches_sklearn(max_points):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    target = rng.random((60, 70)) < 0.15
    prob = np.round(rng.random((60, 70)) * 0.7 + target * 0.3, 3).astype(np.float32)  # ties
    mask = rng.random((60, 70)) < 0.85
    precision, recall, thresholds = pr_curve(prob, target, mask, max_points=max_points)
    ref_p, ref_r, ref_t = sklearn_metrics.precision_recall_curve(target[mask], prob[mask])
    assert len(thresholds) <= max_points and len(precision) == len(recall) == len(thresholds) + 1
    assert np.all(np.diff(thresholds) > 0)
    idx = np.searchsorted(ref_t, thresholds)
    np.testing.assert_allclose(ref_t[idx], thresholds)
    np.testing.assert_allclose(precision[:-1], ref_p[idx])
    np.testing.assert_allclose(recall[:-1], ref_r[idx])
    assert (precision[-1], recall[-1]) == (1.0, 0.0)
    assert thresholds[0] == ref_t[0] and thresholds[-1] == ref_t[-1]  # both ends kept
    if max_points >= len(ref_t):
        np.testing.assert_allclose(precision, ref_p)
        np.testing.assert_allclose(recall, ref_r)


def test_pr_curve_refuses_no_vessels():
    with pytest.raises(ValueError, match="no vessel"):
        pr_curve(np.random.default_rng(0).random((8, 8)), np.zeros((8, 8), bool))


def test_efficiency_plot_with_two_models_of_nearly_equal_cost():
    # The cpu study's first two runs (U-Net 24.3, AF-UNet 26.1 GFLOPs) left no round tick
    # inside the axis range; the plot must still draw.
    df = pd.DataFrame({"model": ["unet", "afunet"], "gflops": [24.26, 26.07],
                       "params": [1.94e6, 2.04e6], "f1": [0.815, 0.813]})
    fig = plotting.efficiency_plot(df)
    assert fig.axes[0].get_xticks().size > 0


def _cpu_drive_efficiency(tmp_path):
    """The efficiency plot of the cpu study's DRIVE numbers, saved: its final layout."""
    plotting.set_style()  # as the notebook draws it (the labels' sizes depend on the style)
    df = pd.DataFrame({
        "model": ["unet", "unetpp", "resunet", "resunetpp", "attention_unet", "afunet"],
        "gflops": [24.3, 59.4, 30.9, 125.4, 25.6, 26.1],
        "params": [1.94e6, 2.26e6, 2.09e6, 4.06e6, 1.99e6, 2.04e6],
        "latency_ms": [300.0, 700.0, 360.0, 1560.0, 330.0, 330.0],
        "f1": [0.8110, 0.8153, 0.8103, 0.7971, 0.8086, 0.8116],
        "f1_std": [0.0020, 0.0033, 0.0018, 0.0022, 0.0014, 0.0010],
    })
    fig = plotting.efficiency_plot(df, title="DRIVE F1 against cost (width 16, cpu profile)")
    fig.savefig(tmp_path / "efficiency.png")
    return fig


def test_efficiency_labels_do_not_overlap_once_titled_and_saved(tmp_path):
    # The cpu study's DRIVE cluster: four models within 0.003 F1 and 30 % of cost. Judged with
    # their leader lines, no far spot looked free, and AF-UNet's label went over U-Net's.
    fig = _cpu_drive_efficiency(tmp_path)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        # the texts alone (an annotation's own extent also spans its leader line)
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts
                 if "marker area" not in t.get_text()]
        assert len(boxes) == 6
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), "two model labels overlap"


def test_worst_box_is_where_afunet_trails_the_others_not_where_all_err(planted):
    # An "optic disc": every model paints a large square of false vessel there, AF-UNet a bit
    # less than the rest. AF-UNet's raw error count is highest there, but it is not behind.
    s = planted["sample"]
    target, fov = s.label, s.fov
    disc_c = _best_window(fov & ~target, fov, away=[planted["red"], planted["green"],
                                                    planted["worst"]], min_dist=SIZE + 6)
    disc = _square(target.shape, disc_c, 9) & fov & ~target
    small = _square(target.shape, disc_c, 7) & fov & ~target
    preds = {m: p | (small if m == "afunet" else disc) for m, p in planted["preds"].items()}
    assert (preds["afunet"] & small).sum() > (planted["preds"]["afunet"] ^ target).sum()
    boxes = plotting.choose_boxes(preds, target, fov)
    assert _contains(boxes["worst"][0], planted["worst"]), (boxes, planted["worst"])
    assert not _contains(boxes["worst"][0], disc_c)
    # AF-UNet alone: its own errors pick the box, so the disc wins.
    alone = plotting.choose_boxes({"afunet": preds["afunet"]}, target, fov)
    assert _contains(alone["worst"][0], disc_c), (alone, disc_c)


def test_pr_curves_zoom_inset_on_the_operating_points():
    plotting.set_style()
    recall = np.linspace(0, 1, 50)
    curves, points = {}, {}
    for k, name in enumerate(registry.names()):
        precision = np.clip(1 - recall**4 * (0.6 + 0.02 * k), 0, 1)
        curves[name] = (precision, recall)
        points[name] = (0.8 + 0.01 * k, float(np.interp(0.8 + 0.01 * k, recall, precision)))
    window = plotting.curves.zoom_window(list(points.values()))
    r0, r1, p0, p1 = window
    assert r1 - r0 == pytest.approx(p1 - p0) and 0 <= r0 < r1 <= 1 and 0 <= p0 < p1 <= 1
    assert all(r0 < r < r1 and p0 < p < p1 for r, p in points.values())
    assert r1 - r0 < 0.2  # a zoom, not the whole square
    fig = plotting.pr_curves(curves, points=points, observer=(0.77, 0.81), title="zoom")
    ax = fig.axes[0]
    (inset,) = ax.child_axes
    assert inset.get_xlim() == pytest.approx((r0, r1)) and inset.get_ylim() == pytest.approx((p0, p1))
    # each model in its registry colour, in the inset as on the main axes
    colours = {to_rgb(line.get_color()) for line in inset.lines}
    assert {to_rgb(registry.color(m)) for m in curves} <= colours
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [registry.label(m) for m in registry.names()] == labels[:6]
    # zoomed-in axes (lo > 0) or no operating point: no inset
    assert not plotting.pr_curves(curves, points=points, lo=0.5).axes[0].child_axes
    assert not plotting.pr_curves(curves).axes[0].child_axes


def test_efficiency_labels_stay_inside_their_axes(tmp_path):
    # The cpu study's DRIVE numbers: "U-Net", left of the leftmost marker, crossed the y axis.
    fig = _cpu_drive_efficiency(tmp_path)
    fig.canvas.draw()  # a renderer at the figure's own dpi, as ax.bbox is
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for t in ax.texts:
            box = Text.get_window_extent(t, renderer)
            assert ax.bbox.x0 - 0.5 <= box.x0 and box.x1 <= ax.bbox.x1 + 0.5, t.get_text()


def test_ablation_figure_cut_axis_and_differences():
    plotting.set_style()
    epochs = np.arange(1, 31)
    logs = {v: pd.DataFrame({"epoch": epochs, "val_f1": 0.8 - 0.7 / epochs + d,
                             "val_loss": 0.3 + 1 / epochs - d})
            for v, d in (("adjacent", 0.004), ("first", 0.0), ("none", 0.002))}
    table = pd.DataFrame({"variant": ["adjacent", "first", "none", "unet (reference)"],
                          "present": [True, True, True, True],
                          "f1": [0.812, 0.807, 0.809, 0.809], "auc_pr": [0.897, 0.891, 0.894, 0.894]})
    fig = plotting.ablation_figure(table, logs, noise={"f1": 0.0016, "auc_pr": 0.0014},
                                   metrics=("f1", "auc_pr"), title="ablation")
    ax_val, ax_diff = fig.axes
    lo, hi = ax_val.get_ylim()
    assert 0.7 < lo < 0.8 and hi - lo < 0.1  # cut to the late epochs, not from 0
    assert any("not 0" in t.get_text() for t in ax_val.texts)
    first = [c for c in ax_diff.containers if c.get_label() == "first"][0]
    x = first.lines[0].get_xdata()
    assert x == pytest.approx([-0.005, -0.006])
    assert fig._suptitle.get_text() == "ablation"
    # nothing to show yet: still a figure
    empty = table.assign(present=False)
    assert isinstance(plotting.ablation_figure(empty, {}), Figure)
