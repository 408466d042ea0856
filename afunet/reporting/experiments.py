"""Experiments beside a study: runs outside its plan, each shown beside the study's own run.

An experiment is a folder ``results/experiments/<name>/`` whose subfolders (``runs/``,
``probes/``, ...) hold run folders as the pipeline writes them. Its table lives in
results/README.md between ``<!-- experiment:<name>:begin -->`` and ``:end -->`` and is
rewritten with the README blocks of the study it is compared with (`make readme`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from afunet import registry
from afunet.reporting.results import collect
from afunet.reporting.tables import fmt
from afunet.reporting.writers import to_markdown, update_block
from afunet.study import REPO, Run

EXPERIMENTS = {"longer-schedule": "cpu"}  # experiment -> the profile whose study it varies
RESULTS_README = REPO / "results" / "README.md"


def experiment_table(name: str, results_root=None) -> pd.DataFrame:
    """One row per run of an experiment, beside the study's run of the same model and seed.

    Returns:
        DataFrame: folder, run, model, channels_last, epochs (cap), best_epoch, epochs_run,
        s_per_epoch, train_s, device, f1 (own test set, pooled at 0.5; empty for runs never
        evaluated), then study_epochs, study_train_s, study_device and study_f1.
    """
    root = Path(results_root) if results_root is not None else REPO / "results"
    profile = EXPERIMENTS[name]
    study = collect(profile, root).query("rule == 'fixed' and rater == 'model'")
    rows = []
    for summary_path in sorted((root / "experiments" / name).glob("*/*/summary.json")):
        folder = summary_path.parent
        config = json.loads((folder / "config.json").read_text())
        summary = json.loads(summary_path.read_text())
        metrics = folder / "eval" / config["dataset"] / "metrics.json"
        f1 = json.loads(metrics.read_text())["fixed"]["pooled"]["f1"] if metrics.is_file() else None
        twin = Run(config["dataset"], config["model"], config["seed"]).name
        mine = study[(study["run"] == twin) & (study["dataset"] == config["dataset"])]
        first = mine.iloc[0] if len(mine) else None
        study_config = json.loads((root / profile / "runs" / twin / "config.json").read_text()) \
            if first is not None else {}
        rows.append(dict(
            folder=folder.parent.name, run=folder.name, model=config["model"],
            channels_last=summary.get("channels_last"), epochs=config["epochs"],
            best_epoch=summary["best_epoch"], epochs_run=summary["epochs_run"],
            s_per_epoch=summary["seconds_per_epoch"], train_s=summary["train_seconds"],
            device=summary["device_name"], f1=f1,
            study_epochs=study_config.get("epochs"),
            study_train_s=None if first is None else first["train_seconds"],
            study_device=None if first is None else first["device_name"],
            study_f1=None if first is None else first["f1"]))
    return pd.DataFrame(rows)


def render_experiment(name: str, results_root=None) -> str:
    """The experiment's block for results/README.md: its table and where it comes from."""
    table = experiment_table(name, results_root)
    profile = EXPERIMENTS[name]
    if table.empty:
        return f"No run filed under `results/experiments/{name}/` yet."
    shown = pd.DataFrame({
        "run": "`" + table["folder"] + "/" + table["run"] + "`",
        "model": table["model"].map(registry.label),
        "layout": table["channels_last"].map({True: "channels_last", False: "NCHW"}),
        "best epoch / run / cap": [f"{b} / {r} / {c}" for b, r, c in
                                   zip(table["best_epoch"], table["epochs_run"],
                                       table["epochs"], strict=True)],
        "s / epoch": [fmt(v, 1) for v in table["s_per_epoch"]],
        "training (s)": [fmt(v, 0) for v in table["train_s"]],
        "DRIVE test F1": [fmt(v) for v in table["f1"]],
        f"`{profile}`: cap": [("" if pd.isna(v) else str(int(v))) for v in table["study_epochs"]],
        f"`{profile}`: training (s)": [fmt(v, 0) for v in table["study_train_s"]],
        f"`{profile}`: DRIVE test F1": [fmt(v) for v in table["study_f1"]],
    })
    devices = sorted({*table["device"].dropna(), *table["study_device"].dropna()})
    return "\n".join([
        to_markdown(shown).rstrip("\n"), "",
        f"F1 pooled inside the FOV at 0.5 on the 20 DRIVE test images; the `{profile}` columns are "
        f"the study's run of the same model and seed. Hardware: {'; '.join(devices)}. Source: "
        f"`results/experiments/{name}/*/*/` and `results/{profile}/runs/`, written by "
        f"`make readme PROFILE={profile}`."])


def update(name: str, path=RESULTS_README, check: bool = False, results_root=None):
    """Rewrite (or check) an experiment's block; see `afunet.reporting.writers.update_block`."""
    return update_block(path, f"experiment:{name}", render_experiment(name, results_root), check)


LAB = "lab"  # the class lab's measured runs: results/experiments/lab/<machine>/<run>/
TEACHING = REPO / "docs" / "teaching.md"


def lab_table(results_root=None) -> pd.DataFrame:
    """The `lab` profile's measured runs, one per machine: time, best epoch, test F1 per set.

    Each machine's folder may hold notebook.json: the wall time of the whole notebook run
    (papermill, from start to its last cell), beside the run's own training time.
    """
    root = Path(results_root) if results_root is not None else REPO / "results"
    rows = []
    for summary_path in sorted((root / "experiments" / LAB).glob("*/*/summary.json")):
        folder = summary_path.parent
        summary = json.loads(summary_path.read_text())
        notebook = folder.parent / "notebook.json"
        wall = json.loads(notebook.read_text())["wall_seconds"] if notebook.is_file() else None
        row = dict(machine=summary["device_name"], run=folder.name,
                   epochs=summary["epochs_run"], best_epoch=summary["best_epoch"],
                   val_f1=summary["best_val_f1"], train_minutes=summary["train_seconds"] / 60,
                   notebook_minutes=None if wall is None else wall / 60)
        for metrics in sorted(folder.glob("eval/*/metrics.json")):
            report = json.loads(metrics.read_text())
            row[f"{report['dataset']}_f1"] = report["fixed"]["pooled"]["f1"]
            if report.get("observer2"):
                row[f"{report['dataset']}_observer2_f1"] = report["observer2"]["pooled"]["f1"]
        rows.append(row)
    return pd.DataFrame(rows)


def render_lab(results_root=None) -> str:
    """docs/teaching.md's "What to expect": the lab runs as measured, and where they are."""
    table = lab_table(results_root)
    if table.empty:
        return "No lab run measured yet (`results/experiments/lab/`)."
    shown = pd.DataFrame({
        "machine": table["machine"], "run": table["run"],
        "training (min)": [fmt(v, 1) for v in table["train_minutes"]],
        "whole notebook (min)": [fmt(v, 1) for v in table["notebook_minutes"]],
        "best epoch": [f"{b} of {e}" for b, e in zip(table["best_epoch"], table["epochs"],
                                                      strict=True)],
        "val F1": [fmt(v) for v in table["val_f1"]],
        "DRIVE test F1": [fmt(v) for v in table.get("drive_f1", pd.Series(dtype=float))],
        "STARE test F1 (unseen set)": [fmt(v) for v in table.get("stare_f1",
                                                                  pd.Series(dtype=float))],
    })
    human = table.get("drive_observer2_f1", pd.Series(dtype=float)).dropna()
    lines = [to_markdown(shown).rstrip("\n"), "",
             "F1 pooled inside the FOV at 0.5 on the test images; the whole notebook is "
             "`papermill notebooks/02_train.ipynb` with its defaults, from start to last cell."]
    if len(human):
        lines[-1] += (f" For scale, DRIVE's second human observer scores {fmt(human.iloc[0])}.")
    lines[-1] += (" Source: `results/experiments/lab/`, written by `make readme`. On a machine "
                  "whose epochs are slower, `time_limit_minutes` in the notebook keeps the lab "
                  "on time.")
    return "\n".join(lines)


def update_lab(path=TEACHING, check: bool = False, results_root=None):
    """Rewrite (or check) docs/teaching.md's lab block; see `writers.update_block`."""
    return update_block(path, "teaching:lab", render_lab(results_root), check)
