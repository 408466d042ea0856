"""CHASE_DB1 (Fraz et al., IEEE TBME 2012): 28 images, both eyes of 14 children, flat layout."""

from __future__ import annotations

from pathlib import Path

from afunet.data import resolve_root
from afunet.data.io import make_sample, require_dir

NAME = "chase_db1"
FOLDER = "CHASE_DB1"
SHAPE = (960, 999)  # (H, W) of every image in the official release
IDS = [f"Image_{child:02d}{eye}" for child in range(1, 15) for eye in "LR"]
N_TRAIN = 20
HOW_TO_GET = (
    "Download CHASEDB1.zip from Kingston University (https://researchinnovation.kingston.ac.uk/"
    "en/datasets/chasedb1-retinal-vessel-reference-dataset-4/) "
    "and run: afunet data import chase_db1 PATH/TO/CHASEDB1.zip"
)


def files(sample_id: str) -> dict[str, str]:
    """Paths, relative to root/CHASE_DB1, of one id's image, 1st and 2nd observer labels."""
    return {
        "image": f"{sample_id}.jpg",
        "label": f"{sample_id}_1stHO.png",
        "label2": f"{sample_id}_2ndHO.png",
    }


def expected_files() -> list[str]:
    """Every file this package uses, relative to root/CHASE_DB1."""
    return [p for i in IDS for p in files(i).values()]


def split_ids(split: str) -> list[str]:
    """Ids of the split: the first 20 (children 1-10) train, the last 8 (children 11-14) test."""
    return IDS[:N_TRAIN] if split == "train" else IDS[N_TRAIN:]


def load(split: str, root: str | Path | None = None) -> list:
    """The 20/8 protocol of most papers since R2U-Net (Alom et al., 2018); see `split_ids`.

    Label = 1st observer, label2 = 2nd; no masks ship, so the FOV comes from `fov.compute_fov`."""
    base = require_dir(resolve_root(root), FOLDER, HOW_TO_GET)
    samples = []
    for sample_id in split_ids(split):
        f = {key: base / rel for key, rel in files(sample_id).items()}
        samples.append(make_sample(sample_id, f["image"], f["label"], None, f["label2"]))
    return samples


def count_images(root: Path) -> int:
    """How many of the 28 CHASE_DB1 images are present under root/CHASE_DB1."""
    base = Path(root) / FOLDER
    return sum((base / files(i)["image"]).is_file() for i in IDS)
