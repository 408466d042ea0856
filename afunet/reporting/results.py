"""Reading the study's result files into DataFrames: one row per run, data set, rater and threshold.

Reads the pipeline's results/<profile>/runs/<run>/ (config, summary, eval/<dataset>/metrics.*,
probs/). Missing files give empty tables, not exceptions: notebooks can say what is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from afunet.errors import AfunetError
from afunet.metrics import METRIC_NAMES
from afunet.study import REPO, Run, eval_datasets, plan

POOLED = (*METRIC_NAMES, "accuracy_image")  # summed confusion counts over the test images
PER_IMAGE_ONLY = ("cldice", "betti0_error", "thin_f1")  # mean over images (thin_f1 pooled if given)
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
    """<results_root>/<profile>, by default the repository's results/<profile>."""
    return (Path(results_root) if results_root is not None else REPO / "results") / profile


def figures_dir(profile: str, results_root: str | Path | None = None) -> Path:
    """figures/<profile> beside the results folder: <repo> or <results_root>/.. by default."""
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

    Columns: run, planned, trained, evaluated, complete (trained, all sets evaluated), command.
    """
    found = run_paths(profile, results_root)
    try:
        planned = [r.name for r in plan(profile)]
    except AfunetError:  # not a profile: an experiment's folder, say
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
    """Names (of ``names``, default the profile's plan) whose results are absent or incomplete."""
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
    """Every evaluation of every run of a profile as one table (``COLLECT_COLUMNS``).

    One row per run x data set x rater ("model"; "observer2" vs the first observer) x rule
    ("fixed" = 0.5, "val" = validation pooled-F1 optimum, "none"). Confusion metrics and
    thin-vessel F1 are pooled over the test images, clDice and Betti-0 error are per-image
    means, AUCs over pooled FOV pixels. Empty (same columns) when nothing is there.
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
    """Every metrics.csv row of a profile with ``RUN_COLUMNS`` added; empty when none.

    id stays a string ("01"); threshold_rule becomes ``rule`` ("none" for the observer).
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
    """A kept probs/<image_id>.png (8 bits) as (H, W) float32 in [0, 1]; None when absent."""
    path = (results_dir(profile, results_root) / "runs" / run / "eval" / dataset / "probs"
            / f"{image_id}.png")
    if not path.is_file():
        return None
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def run_config(profile: str, run: str, results_root=None) -> dict:
    """A run's config.json as a dict ({} when absent)."""
    return _read_json(results_dir(profile, results_root) / "runs" / run / "config.json")


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
