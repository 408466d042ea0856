"""Precision-recall curves, operating points, and Figure 2's inputs from a run's eval files.

Each evaluation writes its pooled precision-recall curve (eval/<dataset>/pr_curve.csv) and
keeps ``probs/<id>.png`` for some test images (the pipeline keeps the first test image, for
Figure 2). Curves come from pr_curve.csv; older runs without it fall back to their kept maps,
which needs the ground truth (the data set on this machine). Figure 2 always needs the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from afunet.pipeline import MODEL_NAMES, Run
from afunet.reporting.results import (
    load_prob,
    model_order,
    prob_ids,
    results_dir,
    run_config,
    run_paths,
)
from afunet.reporting.tables import in_domain, model_label


def operating_points(df: pd.DataFrame, dataset: str, rule: str = "fixed") -> dict:
    """Model -> (recall, precision) of its thresholded segmentation, mean over seeds.

    Args:
        df: `collect`'s table.
        dataset: data set trained and tested on.
        rule: threshold rule, "fixed" or "val".

    Returns:
        dict in the paper's model order (pooled recall and precision of each run, averaged).
    """
    means = in_domain(df, dataset, rule).groupby("model")[["recall", "precision"]].mean()
    return {m: (float(means.loc[m, "recall"]), float(means.loc[m, "precision"]))
            for m in model_order(means.index)}


def observer_point(df: pd.DataFrame, dataset: str):
    """(recall, precision) of the second observer against the first, or None."""
    obs = df[(df["rater"] == "observer2") & (df["dataset"] == dataset)]
    if obs.empty:
        return None
    return float(obs["recall"].iloc[0]), float(obs["precision"].iloc[0])


def load_test_set(dataset: str, data_dir=None, options: dict | None = None):
    """The test split as {id: Sample}, or a one-line reason (str) when it cannot be loaded.

    Args:
        dataset: data set name.
        data_dir: data root (None: $AFUNET_DATA, else the repository's data/).
        options: loader options (a run's ``dataset_kwargs``, e.g. the synthetic set's size).

    Returns:
        dict id -> afunet.data.Sample, or str.
    """
    from afunet.data import load_dataset
    from afunet.errors import AfunetError

    try:
        return {s.id: s for s in load_dataset(dataset, "test", root=data_dir, **(options or {}))}
    except AfunetError as err:
        return f"{dataset} test images not available ({err}); curves and maps need them"


def load_pr_curve(profile: str, run: str, dataset: str, results_root=None):
    """A run's pooled precision-recall curve from eval/<dataset>/pr_curve.csv, or None.

    Args:
        profile, run, dataset: which evaluation.
        results_root: see `afunet.reporting.results_dir`.

    Returns:
        (precision, recall) float arrays (sklearn's order and convention), or None when the
        file is absent (runs evaluated before evaluation wrote it).
    """
    path = results_dir(profile, results_root) / "runs" / run / "eval" / dataset / "pr_curve.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    return table["precision"].to_numpy(float), table["recall"].to_numpy(float)


def pr_curve_data(profile: str, dataset: str, models=MODEL_NAMES, seed: int = 0,
                  results_root=None, data_dir=None) -> tuple[dict, list[str]]:
    """Precision-recall curves of each model's seed-``seed`` run.

    Each run's evaluation writes its curve pooled over the FOV pixels of every test image
    (eval/<dataset>/pr_curve.csv); that is used when present. Runs without it fall back to
    their kept probability maps, pooled over the test images whose maps every such run kept
    (so that no model is judged on easier images than another); that needs the test labels.

    Args:
        profile: profile name.
        dataset: data set trained and tested on.
        models: model keys.
        seed: which seed's run supplies the curve.
        results_root: see `afunet.reporting.results_dir`.
        data_dir: data root for the ground truth (fallback only).

    Returns:
        (curves, notes): curves maps model -> (precision, recall) arrays (the order
        `afunet.plotting.pr_curves` takes); notes says, one line each, which images the
        curves cover, which models have no curve and why.
    """
    curves, notes, absent, kept = {}, [], [], {}
    present = run_paths(profile, results_root)
    for model in models:
        run = Run(dataset, model, seed).name
        if run not in present:
            absent.append(model_label(model))
        elif (curve := load_pr_curve(profile, run, dataset, results_root)) is not None:
            curves[model] = curve
        elif ids := prob_ids(profile, run, dataset, results_root):
            kept[model] = ids
        else:
            notes.append(f"{model_label(model)}: no pr_curve.csv and no probability maps in "
                         f"{run}: operating point only")
    if curves:
        notes.insert(0, f"{', '.join(map(model_label, curves))}: pooled over every test image")
    if kept:
        more, note = _curves_from_maps(profile, dataset, kept, seed, results_root, data_dir)
        curves.update(more)
        notes.append(note)
    if absent:
        notes.append(f"no seed-{seed} run yet: {', '.join(absent)}")
    return {m: curves[m] for m in models if m in curves}, notes


def _curves_from_maps(profile, dataset, kept, seed, results_root, data_dir):
    """Curves from kept maps, over the images every run kept; and a one-line note."""
    from afunet.metrics import pr_curve

    names = ", ".join(map(model_label, kept))
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
            bad.append(model_label(model))
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

    Args:
        profile, dataset, seed: which runs (``<dataset>-<model>-s<seed>``).
        models: model keys, in panel order.
        image_id: test image id; None = the first id (sorted) whose map some model kept.
        results_root: see `afunet.reporting.results_dir`.
        data_dir: data root.

    Returns:
        (sample, probs, notes): the afunet.data.Sample (None when the data or every map is
        missing), model -> (H, W) float probability for the models whose map exists, and
        one-line notes on what is missing.
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
    notes = [f"{model_label(m)}: no map of image {image_id} in {runs[m]}"
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
