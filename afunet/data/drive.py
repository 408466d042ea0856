"""DRIVE (Staal et al., IEEE TMI 2004): 40 images in the official 20/20 split, DRIVE.zip layout."""

from __future__ import annotations

from pathlib import Path

from afunet.data import resolve_root
from afunet.data.io import make_sample, require_dir

NAME = "drive"
FOLDER = "DRIVE"
SHAPE = (584, 565)  # (H, W) of every image
TRAIN_IDS = [f"{i:02d}" for i in range(21, 41)]
TEST_IDS = [f"{i:02d}" for i in range(1, 21)]
IDS = TEST_IDS + TRAIN_IDS
HOW_TO_GET = (
    "Download it from the DRIVE challenge site (https://drive.grand-challenge.org/, registration "
    "required) and run: afunet data import drive PATH/TO/DRIVE.zip"
)


def files(sample_id: str) -> dict[str, str | None]:
    """Paths, relative to root/DRIVE, of one id's image, label, fov mask and label2 (or None)."""
    test = int(sample_id) <= 20
    sub, tag = ("test", "test") if test else ("training", "training")
    return {
        "image": f"{sub}/images/{sample_id}_{tag}.tif",
        "label": f"{sub}/1st_manual/{sample_id}_manual1.gif",
        "fov": f"{sub}/mask/{sample_id}_{tag}_mask.gif",
        "label2": f"test/2nd_manual/{sample_id}_manual2.gif" if test else None,
    }


def expected_files() -> list[str]:
    """Every file of the distribution this package uses, relative to root/DRIVE."""
    return [p for i in IDS for p in files(i).values() if p is not None]


def split_ids(split: str) -> list[str]:
    """Ids of the official split: "train" = 21..40, "test" = 01..20."""
    return {"train": TRAIN_IDS, "test": TEST_IDS}[split]


def load(split: str, root: str | Path | None = None) -> list:
    """Official protocol: train on ids 21-40, test on 01-20, FOV = the official masks.

    Label = observer 1; label2 = observer 2 on the test set only (the human baseline)."""
    base = require_dir(resolve_root(root), FOLDER, HOW_TO_GET)
    samples = []
    for sample_id in split_ids(split):
        f = {k: (base / v if v else None) for k, v in files(sample_id).items()}
        samples.append(make_sample(sample_id, f["image"], f["label"], f["fov"], f["label2"]))
    return samples


def count_images(root: Path) -> int:
    """How many of the 40 DRIVE images are present under root/DRIVE."""
    base = Path(root) / FOLDER
    return sum((base / files(i)["image"]).is_file() for i in IDS)
