"""Evaluate a trained checkpoint on a test split: per-image and pooled metrics, saved maps.

Protocol (the paper names the metrics; the rest is ours): whole images at native size (a run
trained at ``input_size`` has its probabilities resized back); metrics inside the FOV except
``accuracy_image``; thresholds ``fixed`` = 0.5 and ``val`` = pooled-F1 maximum on the training
run's own validation images (never test images, also cross-data-set); AUCs over pooled FOV
pixels. A second observer, where the set has one, is scored as the human baseline.

Writes metrics.csv (per image, rater, threshold), metrics.json, pr_curve.csv, probs/<id>.png.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from afunet import metrics, topology
from afunet.data.cache import load_tensors
from afunet.device import device_name, environment
from afunet.errors import ensure_folder
from afunet.inference import INPUT_RULE, load_with_metadata, segment, training_fov_diameter
from afunet.training.checkpoint import resolve_checkpoint

FIXED_THRESHOLD = 0.5
EXTRA_NAMES = ("accuracy_image", "cldice", "betti0_error", "thin_f1", "auc_roc", "auc_pr")
CSV_FIELDS = ("id", "rater", "threshold_rule", "threshold", *metrics.METRIC_NAMES, *EXTRA_NAMES)


def evaluate(
    checkpoint: str | Path,
    dataset: str,
    split: str = "test",
    out_dir: str | Path | None = None,
    *,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    tta: bool = False,
    save_probs: bool = True,
    device: str = "auto",
    dataset_kwargs: dict | None = None,
    progress: bool = False,
    limit: int | None = None,
) -> dict:
    """Evaluate one checkpoint (file or run folder) on one split of a data set.

    Args:
        dataset: may differ from the training set (cross-data-set).
        out_dir: None = <run folder>/eval/<dataset>-<split>.
        tta: average the four flips of each image (off by default, as in the paper).
        dataset_kwargs: None = the run's own options on its training set, else the set's defaults.
        limit: first ``limit`` images only (smoke runs); n_images in the report says how many.

    Returns:
        the metrics.json dict: pooled and per-image-mean scores per threshold, AUCs, observer2.
    """
    start = time.perf_counter()
    path = resolve_checkpoint(checkpoint)
    model, config, payload = load_with_metadata(path, device)
    out = ensure_folder(Path(out_dir) if out_dir is not None
                        else path.parent / "eval" / f"{dataset}-{split}")  # fails before the work
    if dataset_kwargs is None:
        dataset_kwargs = config.dataset_kwargs if dataset == config.dataset else {}

    val_ids = payload["split"]["val_ids"]
    train_diameter = training_fov_diameter(payload, config)
    threshold, val_f1 = validation_threshold(model, config, payload, root, cache_dir, tta=tta,
                                             progress=progress)

    test = load_tensors(dataset, split, root, cache_dir, options=dataset_kwargs)
    test = _as_numpy(_select(test, test["ids"][:limit], as_numpy=False))
    # The thin-vessel region depends on the ground truth only: computed once, not per rule/rater.
    test["thin_regions"] = [topology.thin_region(t & f, f) for t, f in
                            zip(test["labels"], test["fovs"], strict=True)]
    probs, scales = _predict_all(model, config, test, tta, progress, f"{dataset} {split}",
                                 train_diameter)
    if save_probs:
        (out / "probs").mkdir(parents=True, exist_ok=True)
        for id_, prob in zip(test["ids"], probs, strict=True):
            Image.fromarray(np.rint(prob * 255).astype(np.uint8)).save(out / "probs" / f"{id_}.png")

    rows, results = [], {}
    for rule, value in (("fixed", FIXED_THRESHOLD), ("val", threshold)):
        preds = [p >= value for p in probs]
        rows_t = _score_rows(test, preds, probs, "model", rule, value)
        results[rule] = dict(threshold=value, **_aggregate(test, preds, rows_t))
        rows += rows_t
    results["val"]["val_f1"] = val_f1
    if test["label2"] is not None:
        rows_h = _score_rows(test, test["label2"], None, "observer2", "", "")
        observer2 = _aggregate(test, test["label2"], rows_h)
        rows += rows_h
    else:
        observer2 = None

    fov_probs = np.concatenate([p[f] for p, f in zip(probs, test["fovs"], strict=True)])
    fov_truth = np.concatenate([t[f] for t, f in zip(test["labels"], test["fovs"], strict=True)])
    report = dict(
        checkpoint=str(path),
        model=config.model,
        trained_on=config.dataset,
        dataset=dataset,
        split=split,
        n_images=len(test["ids"]),
        tta=tta,
        input_policy=dict(fov="the data set's FOV masks", rule=INPUT_RULE,
                          train_fov_diameter=train_diameter, scales=scales),
        epoch=payload.get("epoch"),
        threshold_source=f"pooled-F1 maximum on the {config.dataset} validation images "
        f"{', '.join(val_ids)} of the training run",
        fixed=results["fixed"],
        val=results["val"],
        auc_roc=metrics.auc_roc(fov_probs, fov_truth),
        auc_pr=metrics.auc_pr(fov_probs, fov_truth),
        observer2=observer2,
        device=device_name(next(model.parameters()).device),
        seconds=round(time.perf_counter() - start, 3),
        environment=environment(next(model.parameters()).device),
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "metrics.csv", rows)
    _write_pr_curve(out / "pr_curve.csv", fov_probs, fov_truth)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def validation_threshold(model, config, payload: dict, root=None, cache_dir=None, *,
                         tta: bool = False, progress: bool = False) -> tuple[float, float]:
    """(threshold, F1): the pooled-F1 maximum on the training run's own validation images."""
    val = _select(load_tensors(config.dataset, "train", root, cache_dir,
                               options=config.dataset_kwargs), payload["split"]["val_ids"])
    probs, _ = _predict_all(model, config, val, tta, progress, "val",
                            training_fov_diameter(payload, config))
    return metrics.best_f1_threshold(probs, val["labels"], val["fovs"])


def _select(data: dict, ids: list[str], as_numpy: bool = True) -> dict:
    """The images of ``ids`` (in that order) from a load_tensors dict (numpy arrays by default)."""
    index = [data["ids"].index(i) for i in ids]
    label2 = data.get("label2") if not as_numpy else None  # no second observer on val images
    picked = {**data, "ids": list(ids), "label2": None if label2 is None else label2[index],
              **{k: data[k][index] for k in ("images", "labels", "fovs")}}
    return _as_numpy(picked) if as_numpy else picked


def _as_numpy(data: dict) -> dict:
    """load_tensors tensors as lists of per-image numpy arrays: (H, W, 3) uint8, (H, W) bool."""
    def masks(t):
        return None if t is None else [m[0].numpy() for m in t]
    return dict(ids=list(data["ids"]), images=[i.permute(1, 2, 0).numpy() for i in data["images"]],
                labels=masks(data["labels"]), fovs=masks(data["fovs"]),
                label2=masks(data.get("label2")))


def _predict_all(model, config, data, tta, progress, desc, train_diameter):
    """Probability maps of every image at its own size, and each image's input scale."""
    show = progress and sys.stderr.isatty()
    done = [segment(model, config, image, fov, train_diameter, tta=tta)
            for image, fov in tqdm(list(zip(data["images"], data["fovs"], strict=True)),
                                   desc=desc, disable=not show, leave=False)]
    return [prob for prob, _ in done], [round(scale, 4) for _, scale in done]


def _score_rows(data, preds, probs, rater, rule, threshold) -> list[dict]:
    """One CSV row per image: FOV scores, whole-frame accuracy, topology, AUCs (model only)."""
    rows = []
    for i, id_ in enumerate(data["ids"]):
        pred, truth, fov = preds[i], data["labels"][i], data["fovs"][i]
        row = dict(id=id_, rater=rater, threshold_rule=rule, threshold=threshold)
        row.update(metrics.scores(metrics.confusion(pred, truth, fov)))
        row["accuracy_image"] = metrics.scores(metrics.confusion(pred, truth))["accuracy"]
        row["cldice"] = topology.cldice(pred, truth, fov)
        row["betti0_error"] = topology.betti0_error(pred, truth, fov)
        row["thin_f1"] = metrics.scores(_thin_counts(data, i, pred))["f1"]
        has_auc = probs is not None and truth[fov].any() and not truth[fov].all()
        row["auc_roc"] = metrics.auc_roc(probs[i], truth, fov) if has_auc else float("nan")
        row["auc_pr"] = metrics.auc_pr(probs[i], truth, fov) if has_auc else float("nan")
        rows.append(row)
    return rows


def _thin_counts(data, i, pred) -> metrics.Counts:
    """Image i's topology.thin_counts, on its precomputed thin-vessel region."""
    return topology.thin_counts(pred, data["labels"][i], data["fovs"][i],
                                region=data["thin_regions"][i])


def _aggregate(data, preds, rows) -> dict:
    """Pooled scores (summed counts, plus whole-frame accuracy) and the mean of the rows."""
    counts = [metrics.confusion(p, t, f)
              for p, t, f in zip(preds, data["labels"], data["fovs"], strict=True)]
    frame = [metrics.confusion(p, t) for p, t in zip(preds, data["labels"], strict=True)]
    pooled = metrics.pooled(counts)
    pooled["accuracy_image"] = metrics.pooled(frame)["accuracy"]
    pooled["thin_f1"] = metrics.pooled([_thin_counts(data, i, p) for i, p in enumerate(preds)])["f1"]
    names = (*metrics.METRIC_NAMES, *EXTRA_NAMES)
    values = {k: np.array([r[k] for r in rows], dtype=float) for k in names}
    # None where no image has the value (AUCs of the second observer, who gives no scores)
    mean = {k: float(np.nanmean(v)) if np.isfinite(v).any() else None for k, v in values.items()}
    return dict(pooled=pooled, per_image_mean=mean)


def _write_pr_curve(path: Path, probs: np.ndarray, truth: np.ndarray) -> None:
    """Pooled precision-recall curve inside the FOV, at most 256 points."""
    precision, recall, thresholds = metrics.pr_curve(probs, truth, max_points=256)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["threshold", "precision", "recall"])
        # sklearn's convention appends a (precision 1, recall 0) point without a threshold
        for t, p, r in zip([*thresholds, float("nan")], precision, recall, strict=True):
            writer.writerow([f"{t:.6g}", f"{p:.6g}", f"{r:.6g}"])


def _write_csv(path: Path, rows: list[dict]) -> None:
    """metrics.csv with a fixed column order."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)

