"""Reading the study's result files into DataFrames: one row per run, data set, rater and threshold.

Layout read (written by `afunet.pipeline.execute`, one folder per run name)::

    results/<profile>/runs/<run>/config.json, log.csv, summary.json
    results/<profile>/runs/<run>/eval/<dataset>/metrics.json   pooled scores (afunet.evaluation)
    results/<profile>/runs/<run>/eval/<dataset>/metrics.csv    one row per image x rater x rule
    results/<profile>/runs/<run>/eval/<dataset>/probs/<id>.png probability x 255 (when kept)

Everything here tolerates absence: a missing folder gives an empty table with the usual
columns, never an exception, so notebooks can say what is missing and go on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from afunet.metrics import METRIC_NAMES
from afunet.pipeline import MODEL_NAMES, Run, eval_datasets, plan

REPO = Path(__file__).resolve().parents[2]
POOLED = (*METRIC_NAMES, "accuracy_image")  # summed confusion counts over the test images
PER_IMAGE_ONLY = ("cldice", "betti0_error", "thin_f1")  # mean over images (thin_f1: pooled if given)
AUCS = ("auc_roc", "auc_pr")  # over the pooled FOV pixels of all test images
ALL_METRICS = (*POOLED, *PER_IMAGE_ONLY, *AUCS)
RUN_COLUMNS = ("run", "model", "trained_on", "dataset", "seed", "skip_source")
RUN_INFO = ("best_epoch", "best_val_loss", "best_val_f1", "epochs_run", "train_seconds",
            "seconds_per_epoch", "params", "device_name")
COLLECT_COLUMNS = (*RUN_COLUMNS, "rater", "rule", "threshold", "n_images", *ALL_METRICS,
                   "val_f1", *RUN_INFO)
# The command that produces results, as the Makefile names it (`make help` lists the targets).
MAKE_PAPER = "make paper PROFILE={profile}"
MAKE_RUN = "make run-{run} PROFILE={profile}"


def results_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Folder of one profile's results.

    Args:
        profile: "smoke", "cpu" or "paper".
        results_root: folder holding <profile>/ (default: the repository's results/).

    Returns:
        <results_root>/<profile>.
    """
    return (Path(results_root) if results_root is not None else REPO / "results") / profile


def figures_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """Folder of one profile's figures: figures/<profile>, beside the results folder.

    Args:
        profile: profile name.
        results_root: as in `results_dir`; figures go to its sibling folder ``figures``.

    Returns:
        <repo>/figures/<profile>, or <results_root>/../figures/<profile>.
    """
    base = REPO if results_root is None else Path(results_root).resolve().parent
    return base / "figures" / profile


def run_paths(profile: str, results_root=None) -> dict[str, Path]:
    """Run name -> its result folder, for every finished-looking folder (not *.tmp)."""
    runs = results_dir(profile, results_root) / "runs"
    if not runs.is_dir():
        return {}
    return {p.name: p for p in sorted(runs.iterdir()) if p.is_dir() and _parse(p.name)}


def run_status(profile: str, results_root=None) -> pd.DataFrame:
    """Which runs of a profile's plan are done, and which extra runs exist.

    Args:
        profile: profile name (its plan comes from `afunet.pipeline.plan`).
        results_root: see `results_dir`.

    Returns:
        DataFrame, one row per run: run, planned, trained (summary.json present), evaluated
        (data sets with metrics.json), complete (trained and evaluated on every data set the
        pipeline evaluates it on), command (the make command that produces it).
    """
    found = run_paths(profile, results_root)
    try:
        planned = [r.name for r in plan(profile)]
    except ValueError:
        planned = []
    rows = []
    for name in dict.fromkeys([*planned, *found]):
        path = found.get(name)
        evaluated = _evaluated(path) if path else []
        trained = bool(path and (path / "summary.json").is_file())
        wanted = eval_datasets(Run.parse(name))
        rows.append(dict(run=name, planned=name in planned, trained=trained,
                         evaluated=", ".join(evaluated),
                         complete=trained and set(wanted) <= set(evaluated),
                         command=MAKE_RUN.format(profile=profile, run=name)))
    return pd.DataFrame(rows, columns=["run", "planned", "trained", "evaluated", "complete",
                                       "command"])


def missing_runs(profile: str, names=None, results_root=None) -> list[str]:
    """Names (of ``names``, default the profile's plan) whose results are absent or incomplete.

    Args:
        profile: profile name.
        names: run names to check; None = `afunet.pipeline.plan(profile)`.
        results_root: see `results_dir`.

    Returns:
        list of run names, in the order given.
    """
    status = run_status(profile, results_root).set_index("run")
    names = list(status.index[status["planned"]]) if names is None else list(names)
    return [n for n in names if n not in status.index or not status.loc[n, "complete"]]


def missing_message(profile: str, missing: list[str], total: int | None = None) -> str:
    """A few lines naming the missing runs and the make commands that produce them."""
    if not missing:
        return "All runs are there."
    shown = ", ".join(missing[:8]) + (f", ... ({len(missing) - 8} more)" if len(missing) > 8
                                      else "")
    of = f" of {total}" if total else ""
    lines = [f"{len(missing)}{of} runs missing from results/{profile}/runs/: {shown}",
             f"  all of them:  {MAKE_PAPER.format(profile=profile)}",
             f"  one of them:  {MAKE_RUN.format(profile=profile, run=missing[0])}"]
    return "\n".join(lines)


def collect(profile: str, results_root=None) -> pd.DataFrame:
    """Every evaluation of every run of a profile as one table.

    Metrics come from each eval/<dataset>/metrics.json: the six confusion metrics, whole-image
    accuracy and thin-vessel F1 are pooled (confusion counts summed over the test images;
    thin-vessel F1 falls back to the mean over images for results written before evaluation
    pooled it), clDice and Betti-0 error are means over images (they have no pooled form),
    AUCs are over the pooled FOV pixels (model rows only).

    Args:
        profile: profile name.
        results_root: see `results_dir`.

    Returns:
        DataFrame with columns ``COLLECT_COLUMNS``: one row per run x evaluated data set x rater
        ("model", or "observer2" = the second human observer against the first, where the set
        has one) x threshold rule ("fixed" = 0.5, "val" = pooled-F1 maximum on the run's
        validation images, "none" for the observer). ``trained_on`` is the training set,
        ``dataset`` the evaluated one; ``skip_source`` is AF-UNet's skip variant ("adjacent"
        by default, "" for other models). Empty (same columns) when nothing is there.
    """
    rows = []
    for name, path in run_paths(profile, results_root).items():
        info = _run_info(name, path)
        for dataset in _evaluated(path):
            report = _read_json(path / "eval" / dataset / "metrics.json")
            base = dict(info, dataset=report.get("dataset", dataset),
                        trained_on=report.get("trained_on", info["trained_on"]),
                        n_images=report.get("n_images"))
            for rule in ("fixed", "val"):
                block = report.get(rule) or {}
                row = dict(base, rater="model", rule=rule, threshold=block.get("threshold"),
                           val_f1=block.get("val_f1"))
                row.update(_scores(block, report))
                rows.append(row)
            if report.get("observer2"):
                row = dict(base, rater="observer2", rule="none", threshold=np.nan)
                row.update(_scores(report["observer2"], None))
                rows.append(row)
    df = pd.DataFrame(rows, columns=list(COLLECT_COLUMNS))
    return df.astype({c: float for c in ALL_METRICS})


def per_image(profile: str, results_root=None) -> pd.DataFrame:
    """Every row of every metrics.csv of a profile, with the run's columns added.

    Args:
        profile: profile name.
        results_root: see `results_dir`.

    Returns:
        DataFrame: ``RUN_COLUMNS`` plus metrics.csv's columns (id as a string, e.g. "01";
        ``threshold_rule`` renamed ``rule``, "none" for the second observer). Empty when
        nothing is there.
    """
    frames = []
    for name, path in run_paths(profile, results_root).items():
        info = _run_info(name, path)
        for dataset in _evaluated(path):
            csv = path / "eval" / dataset / "metrics.csv"
            if not csv.is_file():
                continue
            part = pd.read_csv(csv, dtype={"id": str, "threshold_rule": str, "rater": str})
            part = part.rename(columns={"threshold_rule": "rule"})
            part["rule"] = part["rule"].fillna("none").replace("", "none")
            meta = _read_json(path / "eval" / dataset / "metrics.json")
            for key, value in dict(info, dataset=dataset,
                                   trained_on=meta.get("trained_on", info["trained_on"])).items():
                if key in RUN_COLUMNS:
                    part[key] = value
            frames.append(part)
    columns = [*RUN_COLUMNS, "id", "rater", "rule", "threshold", *ALL_METRICS]
    if not frames:
        return pd.DataFrame(columns=columns)
    df = pd.concat(frames, ignore_index=True)
    return df[columns + [c for c in df.columns if c not in columns]]


def prob_ids(profile: str, run: str, dataset: str, results_root=None) -> list[str]:
    """Ids of the test images whose probability maps a run kept for a data set (sorted)."""
    folder = results_dir(profile, results_root) / "runs" / run / "eval" / dataset / "probs"
    return sorted(p.stem for p in folder.glob("*.png")) if folder.is_dir() else []


def load_prob(profile: str, run: str, dataset: str, image_id: str, results_root=None):
    """A kept probability map as float32 in [0, 1], or None when the file is not there.

    Args:
        profile, run, dataset, image_id: which map (results/<profile>/runs/<run>/eval/
            <dataset>/probs/<image_id>.png, probability x 255 as 8 bits).
        results_root: see `results_dir`.

    Returns:
        (H, W) float32 array, or None.
    """
    from PIL import Image

    path = (results_dir(profile, results_root) / "runs" / run / "eval" / dataset / "probs"
            / f"{image_id}.png")
    if not path.is_file():
        return None
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def run_config(profile: str, run: str, results_root=None) -> dict:
    """A run's config.json as a dict ({} when absent)."""
    return _read_json(results_dir(profile, results_root) / "runs" / run / "config.json")


def model_order(names) -> list[str]:
    """Model keys in the paper's table order, unknown ones after (sorted)."""
    names = set(names)
    return [m for m in MODEL_NAMES if m in names] + sorted(names - set(MODEL_NAMES))


def _parse(name: str) -> Run | None:
    """Run from a folder name, None for anything else (e.g. a half-written *.tmp)."""
    try:
        return Run.parse(name)
    except ValueError:
        return None


def _evaluated(path: Path) -> list[str]:
    """Data sets a run folder holds a metrics.json for; its own set first."""
    folder = path / "eval"
    found = sorted(p.name for p in folder.iterdir() if (p / "metrics.json").is_file()) \
        if folder.is_dir() else []
    run = _parse(path.name)
    return sorted(found, key=lambda d: (run is None or d != run.dataset, d))


def _run_info(name: str, path: Path) -> dict:
    """Run columns from the name, config.json and summary.json (absent files give NaN)."""
    run = Run.parse(name)
    config = _read_json(path / "config.json")
    summary = _read_json(path / "summary.json")
    model = config.get("model", run.model)
    skip = run.skip_source or (config.get("model_kwargs") or {}).get("skip_source")
    skip = skip or ("adjacent" if model == "afunet" else "")
    info = dict(run=name, model=model, trained_on=config.get("dataset", run.dataset),
                seed=int(config.get("seed", run.seed)), skip_source=skip)
    info.update({k: summary.get(k, np.nan) for k in RUN_INFO})
    return info


def _scores(block: dict, report: dict | None) -> dict:
    """Pooled metrics, per-image means of the topology metrics, pooled-pixel AUCs."""
    pooled, mean = block.get("pooled") or {}, block.get("per_image_mean") or {}
    out = {k: pooled.get(k, np.nan) for k in POOLED}
    # Pooled where evaluation gives it (thin-vessel F1), else the mean over images.
    out.update({k: pooled.get(k, mean.get(k, np.nan)) for k in PER_IMAGE_ONLY})
    out.update({k: (report or {}).get(k, np.nan) for k in AUCS})
    return {k: np.nan if v is None else v for k, v in out.items()}


def _read_json(path: Path) -> dict:
    """A JSON file as a dict, {} when absent or unreadable (a run still being written)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
