"""Retinal vessel data sets: one registry, one sample type, one way to find the data root.

    >>> from afunet.data import load_dataset, train_val_split, DEFAULT_N_VAL
    >>> train = load_dataset("drive", "train")            # 20 Samples, from resolve_root()
    >>> fit_ids, val_ids = train_val_split([s.id for s in train], DEFAULT_N_VAL["drive"], seed=0)

Each real set lives under the data root in its publisher's layout (root/DRIVE, root/STARE,
root/CHASE_DB1); `afunet data fetch|import|verify|list` put it there and check it. The split
protocols are written in each loader's docstring (`afunet.data.drive.load` etc.).
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
    """One fundus image with its labels.

    Attributes:
        id: image id within its data set (e.g. "21" for DRIVE 21_training.tif, "im0001" for STARE).
        image: (H, W, 3) uint8 RGB photograph.
        label: (H, W) bool vessel map of the reference observer (the ground truth).
        fov: (H, W) bool field of view; metrics are computed inside it.
        label2: (H, W) bool second observer's vessel map, or None where the set has none.
    """

    id: str
    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray
    label2: np.ndarray | None = None


# name -> "module:function"; resolved on use so a set's module (and its dependencies) is imported
# only when that set is loaded, and this package imports even before every module exists.
DATASETS: dict[str, str] = {
    "drive": "afunet.data.drive:load",
    "stare": "afunet.data.stare:load",
    "chase_db1": "afunet.data.chase:load",
    "synthetic": "afunet.data.synthetic:load",
}

# Validation images held out of each training split by train_val_split: 20 % of the training
# images (DRIVE 4 of 20, STARE 2 of 10, CHASE_DB1 4 of 20), and 2 for the small synthetic set.
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
    """Load one split of a registered data set.

    Args:
        name: one of `list_datasets()`: "drive", "stare", "chase_db1", "synthetic".
        split: "train" or "test" (the protocol of each set is in its loader's docstring).
        root: data root; None means `resolve_root()`.
        **kw: loader options, e.g. STARE `protocol="kfold", fold=0, k=4`.

    Returns:
        list of Sample in the set's id order.

    Raises:
        AfunetError: unknown name or split. DatasetMissingError: the set is not at the root.
    """
    loader = get_loader(name)
    if split not in SPLITS:
        raise AfunetError(f"Unknown split {split!r} for {name}; valid splits: {', '.join(SPLITS)}.")
    return loader(split, root=resolve_root(root), **kw)


def resolve_root(data_dir: str | Path | None = None) -> Path:
    """The data root: `data_dir` if given, else $AFUNET_DATA, else <repo>/data.

    Args:
        data_dir: explicit folder (the CLI's --data-dir).

    Returns:
        absolute Path (it may not exist yet).
    """
    if data_dir is None:
        data_dir = os.environ.get("AFUNET_DATA") or Path(__file__).resolve().parents[2] / "data"
    return Path(data_dir).expanduser().resolve()


def train_val_split(ids: list[str], n_val: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Hold out `n_val` ids for validation, the same ones on every machine and library version.

    Each id is ranked by SHA-256 of "<seed>:<id>" and the n_val lowest are held out; unlike a
    numpy RNG stream this never changes between versions, and it does not depend on input order.
    Defaults per set are in DEFAULT_N_VAL (DRIVE 4 of 20, STARE 2 of 10, CHASE_DB1 4 of 20).

    Args:
        ids: training-split ids (unique).
        n_val: how many to hold out, 0 <= n_val < len(ids).
        seed: changes which ids are held out.

    Returns:
        (train_ids, val_ids), each in the order of `ids`.
    """
    if len(set(ids)) != len(ids):
        raise AfunetError("train_val_split: ids must be unique.")
    if not 0 <= n_val < len(ids):
        raise AfunetError(f"train_val_split: n_val={n_val} must be in [0, {len(ids)}).")
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
