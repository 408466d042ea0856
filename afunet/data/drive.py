"""DRIVE: Digital Retinal Images for Vessel Extraction (Staal et al., 2004).

J. Staal, M. D. Abramoff, M. Niemeijer, M. A. Viergever, B. van Ginneken, "Ridge-based vessel
segmentation in color images of the retina", IEEE TMI 23(4):501-509, 2004.

Layout under the data root (as the official DRIVE.zip unpacks):

    DRIVE/training/images/21_training.tif ... 40_training.tif
    DRIVE/training/1st_manual/21_manual1.gif ...     DRIVE/training/mask/21_training_mask.gif ...
    DRIVE/test/images/01_test.tif ... 20_test.tif
    DRIVE/test/1st_manual/01_manual1.gif ...         DRIVE/test/2nd_manual/01_manual2.gif ...
    DRIVE/test/mask/01_test_mask.gif ...
"""

from __future__ import annotations

from pathlib import Path

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
    """Load DRIVE with its official protocol.

    Protocol (Staal et al., 2004): train on the 20 `training` images (ids 21-40), test on the 20
    `test` images (ids 01-20). Ground truth is observer 1 (`1st_manual`); on the test set
    `label2` holds observer 2 (`2nd_manual`), the human baseline (Acc 0.9473 against observer 1,
    pooled inside the FOV). FOV = the official `mask` GIFs. Images are 584x565 (HxW). GIF labels
    decode to {0, 255} (1st_manual) or palette indices {0, 1} (2nd_manual): both binarised `> 0`.

    Args:
        split: "train" or "test".
        root: data root holding DRIVE/; None means `afunet.data.resolve_root()`.

    Returns:
        list of Sample with ids "21".."40" (train) or "01".."20" (test).

    Raises:
        DatasetMissingError: root/DRIVE is absent. DataError: a file is missing or unreadable.
    """
    from afunet.data import resolve_root

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
