"""Retinal vessel data sets: one registry, one `Sample` type, one way to find the data root.

    >>> train = load_dataset("drive", "train")  # 20 Samples from resolve_root()
    >>> fit_ids, val_ids = train_val_split([s.id for s in train], DEFAULT_N_VAL["drive"])

Real sets sit under the root in their publishers' layout; each loader's `load` gives its splits.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from afunet.errors import AfunetError


@dataclass
class Sample:
    """One fundus image with its vessel labels and field of view (FOV)."""

    id: str  # within its set: "21" for DRIVE 21_training.tif, "im0001" for STARE
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: np.ndarray  # (H, W) bool, reference observer (the ground truth)
    fov: np.ndarray  # (H, W) bool; metrics are computed inside it
    label2: np.ndarray | None = None  # (H, W) bool second observer, None where the set has none


# name -> "module:function", imported on use: a set's dependencies load only with that set.
DATASETS: dict[str, str] = {
    "drive": "afunet.data.drive:load",
    "stare": "afunet.data.stare:load",
    "chase_db1": "afunet.data.chase:load",
    "synthetic": "afunet.data.synthetic:load",
}

# Validation ids held out of each training split: 20 % of it (2 for the small synthetic set).
DEFAULT_N_VAL: dict[str, int] = {"drive": 4, "stare": 2, "chase_db1": 4, "synthetic": 2}

SPLITS = ("train", "test")


def list_datasets() -> list[str]:
    """Names `load_dataset` accepts, sorted."""
    return sorted(DATASETS)


def get_loader(name: str) -> Callable[..., list[Sample]]:
    """The registered `load(split, root=None, **kw)` function of a data set."""
    if name not in DATASETS:
        raise AfunetError(f"Unknown data set {name!r}; valid names: {', '.join(list_datasets())}.")
    module_name, func_name = DATASETS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def load_dataset(name: str, split: str, root: str | Path | None = None, **kw) -> list[Sample]:
    """Samples of one split ("train"/"test") in id order; `**kw` go to the loader (STARE `fold=0`).

    Raises AfunetError for an unknown name or split, DatasetMissingError when the set is absent."""
    loader = get_loader(name)
    if split not in SPLITS:
        raise AfunetError(f"Unknown split {split!r} for {name}; valid splits: {', '.join(SPLITS)}.")
    return loader(split, root=resolve_root(root), **kw)


def resolve_root(data_dir: str | Path | None = None) -> Path:
    """Absolute data root: `data_dir` (--data-dir), else $AFUNET_DATA, else <repo>/data.

    It need not exist yet, but AfunetError names the setting when it (or a folder above it) is
    a file, or when it is empty."""
    if data_dir is not None:
        source, fix = "--data-dir", "give --data-dir a folder"
    elif os.environ.get("AFUNET_DATA"):
        data_dir = os.environ["AFUNET_DATA"]
        source, fix = "$AFUNET_DATA", "set AFUNET_DATA to a folder, or unset it"
    else:
        data_dir = Path(__file__).resolve().parents[2] / "data"
        source, fix = "the default data root", "move that file away, or give --data-dir a folder"
    if not str(data_dir).strip():
        raise AfunetError(f"{source} is empty: {fix} (the one holding DRIVE/, STARE/, ...).")
    try:
        root = Path(data_dir).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # unknown ~user, symlink loop
        raise AfunetError(
            f"Cannot use {data_dir} ({source}) as the data root: {exc}; {fix}."
        ) from None
    # The nearest existing path must be a folder, or every data command fails later.
    for path in (root, *root.parents):
        try:
            if not path.exists():
                continue
        except OSError:
            break
        if not path.is_dir():
            where = "is a file" if path == root else f"lies under {path}, which is a file"
            raise AfunetError(
                f"The data root {root} ({source}) {where}, not a folder: {fix} "
                f"(it is created on the first import)."
            )
        break
    return root


def train_val_split(ids: list[str], n_val: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split unique `ids` into (train_ids, val_ids), keeping input order; 0 <= n_val < len(ids)."""
    if len(set(ids)) != len(ids):
        raise AfunetError("train_val_split: ids must be unique.")
    if not 0 <= n_val < len(ids):
        raise AfunetError(f"train_val_split: n_val={n_val} must be in [0, {len(ids)}).")
    # Rank by SHA-256, not a numpy RNG: same ids on every version, whatever the input order.
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    held = set(ranked[:n_val])
    return [i for i in ids if i not in held], [i for i in ids if i in held]


__all__ = [
    "DATASETS",
    "DEFAULT_N_VAL",
    "SPLITS",
    "Sample",
    "get_loader",
    "list_datasets",
    "load_dataset",
    "resolve_root",
    "train_val_split",
]
