"""The general-purpose model's records: the augmentation choice and the cross-data-set table.

`select` scores the recipe with and without the appearance augmentations on the *other* data
set's training images (never a test image), as they are and resampled to other cameras' sizes.
`cross_dataset_table` puts the leave-one-data-set-out runs beside the `cpu` study's width-16
models and the human second observer, on each test set. Both are files under results/general/;
the table also sits in its README (the model card) between generated markers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from afunet import general, metrics, registry
from afunet.reporting.writers import to_markdown, update_block
from afunet.study import DATASETS, REPO

FACTORS = (0.6, 1.0, 1.7)  # resampling that stands in for other cameras' resolutions
SELECTION = general.RESULTS / "selection.csv"
TABLE = general.RESULTS / "cross_dataset.csv"
CARD = general.RESULTS / "README.md"


def resample(image: np.ndarray, label: np.ndarray, fov: np.ndarray, factor: float):
    """Image (bilinear), label and FOV (nearest) at ``factor`` times their size."""
    if factor == 1.0:
        return image, label, fov
    size = (round(image.shape[0] * factor), round(image.shape[1] * factor))
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    x = x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    masks = [F.interpolate(torch.from_numpy(m)[None, None].float(), size=size,
                           mode="nearest")[0, 0].numpy() > 0.5 for m in (label, fov)]
    return x, *masks


def candidates(source: str) -> dict[str, Path]:
    """The two recipes trained on ``source``: the study's seed-0 AF-UNet and the general one."""
    return {"study recipe": REPO / "results" / general.STUDY / "checkpoints" /
            f"{source}-{general.MODEL}-s0.pt",
            "with appearance augmentations": general.run_dir(source) / "best.pt"}


def select(root=None, progress: bool = True) -> pd.DataFrame:
    """Pooled F1 at 0.5 of each candidate on the other set's training images; writes the CSV."""
    from tqdm.auto import tqdm

    from afunet.data import load_dataset
    from afunet.inference import load_with_metadata, segment, training_fov_diameter

    rows = []
    for source in DATASETS:
        target = next(d for d in DATASETS if d != source)
        samples = load_dataset(target, "train", root)
        for recipe, path in candidates(source).items():
            model, config, payload = load_with_metadata(path, "cpu")
            diameter = training_fov_diameter(payload, config)
            for factor in FACTORS:
                counts = metrics.Counts()
                for s in tqdm(samples, desc=f"{source} {recipe} x{factor}", disable=not progress,
                              leave=False):
                    image, label, fov = resample(s.image, s.label, s.fov, factor)
                    prob, _ = segment(model, config, image, fov, diameter)
                    counts = counts + metrics.confusion(prob >= 0.5, label, fov)
                rows.append(dict(trained_on=source, scored_on=f"{target} train", recipe=recipe,
                                 resampled=factor, f1=round(metrics.scores(counts)["f1"], 4)))
    table = pd.DataFrame(rows)
    table.to_csv(SELECTION, index=False)
    print(table.groupby("recipe")["f1"].mean().round(4).to_string())
    return table


def _scores(path: Path) -> dict:
    report = json.loads(path.read_text())
    return dict(f1_fixed=report["fixed"]["pooled"]["f1"], f1_val=report["val"]["pooled"]["f1"],
                observer2=(report["observer2"] or {}).get("pooled", {}).get("f1"))


def cross_dataset_table(results_root=None) -> pd.DataFrame:
    """F1 on each test set: the general recipe (unseen set), the study's models, the human."""
    root = Path(results_root) if results_root is not None else REPO / "results"
    study = pd.read_csv(root / general.STUDY / "cross_dataset.csv")
    rows, humans = [], {}
    for tested in DATASETS:
        source = next(d for d in DATASETS if d != tested)
        runs = root / "general" / "runs"
        unseen = _scores(runs / source / "eval" / tested / "metrics.json")
        human = humans[tested] = unseen["observer2"]
        rows.append(dict(tested_on=tested, model="General recipe (AF-UNet)", trained_on=source,
                         seeds=1, f1_fixed=unseen["f1_fixed"], f1_val=unseen["f1_val"]))
        for model in registry.names():
            mine = study[(study["model"] == model) & (study["dataset"] == tested)]
            by_rule = mine.set_index("rule")["f1_mean"]
            rows.append(dict(tested_on=tested,
                             model=f"{general.STUDY} study: {registry.label(model)}",
                             trained_on=source, seeds=int(mine["n_seeds"].iloc[0]),
                             f1_fixed=by_rule["fixed"], f1_val=by_rule["val"]))
        both = _scores(runs / general.COMMITTED / "eval" / tested / "metrics.json")
        rows.append(dict(tested_on=tested, model="General model, as committed (in domain)",
                         trained_on=general.COMMITTED, seeds=1, f1_fixed=both["f1_fixed"],
                         f1_val=both["f1_val"]))
        rows.append(dict(tested_on=tested, model="Human second observer", trained_on="",
                         seeds=None, f1_fixed=human, f1_val=human))
    table = pd.DataFrame(rows)
    table["of_human"] = table["f1_val"] / table["tested_on"].map(humans)
    return table


def runs_table(results_root=None) -> pd.DataFrame:
    """Each run's record: data, epochs, training time, machine, commit (summary.json)."""
    root = Path(results_root) if results_root is not None else REPO / "results"
    rows = []
    for trained_on in general.TRAINED_ON:
        summary = json.loads((root / "general" / "runs" / trained_on / "summary.json").read_text())
        env = summary.get("environment", {})
        rows.append({"Trained on": trained_on.upper(),
                     "Images (fit + validation)": f"{summary['n_train']} + {summary['n_val']}",
                     "Epochs": summary["epochs_run"], "Best epoch": summary["best_epoch"],
                     "Validation F1": f"{summary['best_val_f1']:.4f}",
                     "Training (min)": f"{summary['train_seconds'] / 60:.1f}",
                     "Machine": summary["device_name"],
                     "Commit": str(env.get("git_commit", ""))[:7]})
    return pd.DataFrame(rows)


def selection_markdown(table: pd.DataFrame) -> str:
    """The choice: F1 per direction and resampling, and the mean per recipe."""
    wide = table.pivot_table(index=["trained_on", "scored_on", "resampled"], columns="recipe",
                             values="f1").reset_index()
    wide.columns.name = None
    means = {"trained_on": "mean", "scored_on": "", "resampled": ""}
    means.update({c: wide[c].mean() for c in wide.columns if c not in means})
    wide["resampled"] = wide["resampled"].map("{:g}x".format)
    wide["scored_on"] = wide["scored_on"].str.replace(" train", "").str.upper() + " training"
    wide = pd.concat([wide, pd.DataFrame([means])], ignore_index=True)
    wide["trained_on"] = wide["trained_on"].str.upper()
    return to_markdown(wide.rename(columns={"trained_on": "Trained on", "scored_on": "Scored on",
                                            "resampled": "Resampled"}))


def weights_line() -> str:
    """What the committed weights file holds: size, epoch, threshold and where it came from."""
    path = general.weights()
    payload = torch.load(path, map_location="cpu", weights_only=False)
    return (f"`{path.relative_to(REPO).as_posix()}`: {path.stat().st_size:,} bytes, fp16, the "
            f"weights of epoch {payload['epoch']} (lowest validation loss); threshold "
            f"{payload['threshold']}, the pooled-F1 maximum on the validation images "
            f"{', '.join(payload['split']['val_ids'])}.")


def blocks(results_root=None, table: pd.DataFrame | None = None) -> dict[str, str]:
    """The model card's generated blocks, by marker key (``table``: `cross_dataset_table`'s)."""
    table = cross_dataset_table(results_root) if table is None else table
    return {"general:weights": weights_line(),
            "general:selection": selection_markdown(pd.read_csv(SELECTION)),
            "general:cross-dataset": markdown(table),
            "general:runs": to_markdown(runs_table(results_root))}


def write_tables(results_root=None) -> pd.DataFrame:
    """results/general/cross_dataset.csv and the model card's generated blocks."""
    table = cross_dataset_table(results_root)
    table.round(4).to_csv(TABLE, index=False)
    for key, text in blocks(results_root, table).items():
        update_block(CARD, key, text)
    return table


def markdown(table: pd.DataFrame) -> str:
    """The card's table: F1 at both threshold rules and the share of the human's F1."""
    shown = pd.DataFrame({
        "Tested on": table["tested_on"].str.upper(),
        "Model": table["model"],
        "Trained on": table["trained_on"].str.upper(),
        "Seeds": table["seeds"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        "F1 at 0.5": table["f1_fixed"].map("{:.4f}".format),
        "F1 at validation threshold": table["f1_val"].map("{:.4f}".format),
        "Share of human F1": table["of_human"].map("{:.0%}".format),
    })
    return to_markdown(shown)
