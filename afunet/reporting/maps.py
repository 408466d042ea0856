"""Precision-recall curves, operating points, and Figure 2's inputs from a run's eval files.

Curves come from eval/<dataset>/pr_curve.csv; older runs without it fall back to their kept
probs/<id>.png maps, which need the test labels on this machine, as Figure 2 always does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from afunet import metrics, registry, topology
from afunet.data import load_dataset
from afunet.errors import AfunetError
from afunet.metrics import pr_curve
from afunet.reporting.results import (
    load_prob,
    prob_ids,
    results_dir,
    run_config,
    run_paths,
)
from afunet.reporting.tables import in_domain
from afunet.study import Run


def operating_points(df: pd.DataFrame, dataset: str, rule: str = "fixed") -> dict:
    """Model -> (recall, precision) of its thresholded maps: pooled per run, mean over seeds."""
    means = in_domain(df, dataset, rule).groupby("model")[["recall", "precision"]].mean()
    return {m: (float(means.loc[m, "recall"]), float(means.loc[m, "precision"]))
            for m in registry.order(means.index)}


def observer_point(df: pd.DataFrame, dataset: str):
    """(recall, precision) of the second observer against the first, or None."""
    obs = df[(df["rater"] == "observer2") & (df["dataset"] == dataset)]
    if obs.empty:
        return None
    return float(obs["recall"].iloc[0]), float(obs["precision"].iloc[0])


def load_test_set(dataset: str, data_dir=None, options: dict | None = None):
    """The test split as {id: Sample}, or a one-line reason (str) when it cannot be loaded.

    ``data_dir`` None: $AFUNET_DATA, else data/; ``options``: a run's ``dataset_kwargs``.
    """
    try:
        return {s.id: s for s in load_dataset(dataset, "test", root=data_dir, **(options or {}))}
    except AfunetError as err:
        return f"{dataset} test images not available ({err}); curves and maps need them"


def load_pr_curve(profile: str, run: str, dataset: str, results_root=None):
    """(precision, recall) arrays from eval/<dataset>/pr_curve.csv (sklearn's), None if absent."""
    path = results_dir(profile, results_root) / "runs" / run / "eval" / dataset / "pr_curve.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    return table["precision"].to_numpy(float), table["recall"].to_numpy(float)


def pr_curve_data(profile: str, dataset: str, models=None, seed: int = 0,
                  results_root=None, data_dir=None) -> tuple[dict, list[str]]:
    """Precision-recall curves of each model's seed-``seed`` run, and one-line notes.

    Uses each run's pr_curve.csv (pooled over every test image's FOV pixels); runs without one
    fall back to kept maps, pooled over the images every such run kept, so that no model is
    judged on easier images. Returns ({model: (precision, recall)}, notes on what is missing).
    """
    curves, notes, absent, kept = {}, [], [], {}
    models = list(models) if models else registry.names()
    present = run_paths(profile, results_root)
    for model in models:
        run = Run(dataset, model, seed).name
        if run not in present:
            absent.append(registry.label(model))
        elif (curve := load_pr_curve(profile, run, dataset, results_root)) is not None:
            curves[model] = curve
        elif ids := prob_ids(profile, run, dataset, results_root):
            kept[model] = ids
        else:
            notes.append(f"{registry.label(model)}: no pr_curve.csv and no probability maps in "
                         f"{run}: operating point only")
    if curves:
        notes.insert(0, f"{', '.join(map(registry.label, curves))}: pooled over every test image")
    if kept:
        more, note = _curves_from_maps(profile, dataset, kept, seed, results_root, data_dir)
        curves.update(more)
        notes.append(note)
    if absent:
        notes.append(f"no seed-{seed} run yet: {', '.join(absent)}")
    return {m: curves[m] for m in models if m in curves}, notes


def _curves_from_maps(profile, dataset, kept, seed, results_root, data_dir):
    """Curves from kept maps, over the images every run kept; and a one-line note."""
    names = ", ".join(map(registry.label, kept))
    shared = sorted(set.intersection(*(set(v) for v in kept.values())))
    if not shared:
        return {}, f"{names}: the runs kept maps of different test images: no common curve"
    first = Run(dataset, next(iter(kept)), seed).name
    options = run_config(profile, first, results_root).get("dataset_kwargs") or {}
    samples = load_test_set(dataset, data_dir, options)
    if isinstance(samples, str):
        return {}, f"{names}: {samples}"
    shared = [i for i in shared if i in samples]
    curves, bad = {}, []
    for model in kept:
        run = Run(dataset, model, seed).name
        probs, truths = [], []
        for i in shared:
            prob, sample = load_prob(profile, run, dataset, i, results_root), samples[i]
            if prob is None or prob.shape != sample.label.shape:
                break
            probs.append(prob[sample.fov])
            truths.append(sample.label[sample.fov])
        if len(probs) < len(shared) or not probs or not np.concatenate(truths).any():
            bad.append(registry.label(model))
            continue
        precision, recall, _ = pr_curve(np.concatenate(probs), np.concatenate(truths))
        curves[model] = (precision, recall)
    cover = ("every test image" if len(shared) == len(samples) else
             f"{len(shared)} of {len(samples)} test images ({', '.join(shared[:5])}"
             f"{', ...' if len(shared) > 5 else ''}), those whose maps every such run kept")
    note = f"{names}: no pr_curve.csv; curves from kept maps, pooled over {cover}"
    if bad:
        note += f"; maps of {', '.join(bad)} do not match the test images"
    return curves, note


def figure_inputs(profile: str, dataset: str, models, seed: int = 0, image_id: str | None = None,
                  results_root=None, data_dir=None) -> tuple[object, dict, list[str]]:
    """One test image, its labels and each model's probability map, for Figure 2.

    ``image_id`` None: the image most models kept a map of. Returns (Sample, or None without
    the data or any map; {model: (H, W) probability} where one exists; notes on what is missing).
    """
    runs = {m: Run(dataset, m, seed).name for m in models}
    kept = {m: prob_ids(profile, r, dataset, results_root) for m, r in runs.items()}
    if image_id is None:
        candidates = sorted(set().union(*kept.values())) if kept else []
        if not candidates:
            return None, {}, [f"no run {dataset}-<model>-s{seed} of profile {profile!r} kept a "
                              "probability map"]
        # The image most models kept a map for; the first such id on ties.
        image_id = min(candidates, key=lambda i: (-sum(i in v for v in kept.values()), i))
    notes = [f"{registry.label(m)}: no map of image {image_id} in {runs[m]}"
             for m in models if image_id not in kept[m]]
    options = {}
    for m in models:
        options = run_config(profile, runs[m], results_root).get("dataset_kwargs") or {}
        if options or image_id in kept[m]:
            break
    samples = load_test_set(dataset, data_dir, options)
    if isinstance(samples, str):
        return None, {}, [*notes, samples]
    if image_id not in samples:
        return None, {}, [*notes, f"{image_id!r} is not a {dataset} test image"]
    sample = samples[image_id]
    probs = {}
    for m in models:
        prob = load_prob(profile, runs[m], dataset, image_id, results_root)
        if prob is not None and prob.shape == sample.label.shape:
            probs[m] = prob
    return sample, probs, notes


BOX_KINDS = ("red", "green", "worst")  # Figure 2's boxes: complex structure, thin vessels, worst


def box_scores(sample, preds: dict, boxes: dict) -> pd.DataFrame:
    """F1 and thin-vessel F1 of each model inside each Figure 2 box, then on the whole image.

    One row per region x model: region ("red", "green", "worst", "whole image"), box
    (y0, x0, h, w; empty for the whole image), model, f1, thin_f1, and on the whole image
    cldice and betti0_error. Figure 2's claim is judged from this (`findings`).
    """
    rows = []
    regions = [(kind, box) for kind in BOX_KINDS for box in boxes.get(kind, [])]
    for kind, box in [*regions, ("whole image", None)]:
        inside = sample.fov.copy()
        if box is not None:
            y0, x0, h, w = box
            inside[:y0] = inside[y0 + h:] = False
            inside[:, :x0] = inside[:, x0 + w:] = False
        for model, pred in preds.items():
            row = dict(region=kind, box="" if box is None else " ".join(map(str, box)),
                       model=model,
                       f1=metrics.scores(metrics.confusion(pred, sample.label, inside))["f1"],
                       thin_f1=topology.thin_f1(pred, sample.label, inside))
            if box is None:
                row.update(cldice=topology.cldice(pred, sample.label, sample.fov),
                           betti0_error=topology.betti0_error(pred, sample.label, sample.fov))
            rows.append(row)
    return pd.DataFrame(rows).round(6)
