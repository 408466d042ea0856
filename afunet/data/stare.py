"""STARE (Hoover et al., IEEE TMI 2000): its 20 vessel-labelled images, from the three official
tars unpacked (stare-images, labels-ah, labels-vk); plain `.ppm` works as well as `.ppm.gz`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from afunet.data import resolve_root
from afunet.data.io import make_sample, require_dir
from afunet.errors import AfunetError

NAME = "stare"
FOLDER = "STARE"
SHAPE = (605, 700)  # (H, W) of every image
IDS = [
    "im0001", "im0002", "im0003", "im0004", "im0005", "im0044", "im0077", "im0081", "im0082",
    "im0139", "im0162", "im0163", "im0235", "im0236", "im0239", "im0240", "im0255", "im0291",
    "im0319", "im0324",
]  # fmt: skip
PROTOCOLS = ("default", "kfold")
DEFAULT_K = 4
HOW_TO_GET = (
    "Get it with: afunet data fetch stare (or download the archives and run: "
    "afunet data import stare stare-images.tar labels-ah.tar labels-vk.tar)"
)


def files(sample_id: str) -> dict[str, str]:
    """Paths, relative to root/STARE, of one id's image, `ah` label and `vk` label (gzipped)."""
    return {
        "image": f"stare-images/{sample_id}.ppm.gz",
        "label": f"labels-ah/{sample_id}.ah.ppm.gz",
        "label2": f"labels-vk/{sample_id}.vk.ppm.gz",
    }


def expected_files() -> list[str]:
    """Every file this package uses, relative to root/STARE."""
    return [p for i in IDS for p in files(i).values()]


def split_ids(
    split: str, protocol: str = "default", fold: int | None = None, k: int | None = None
) -> list[str]:
    """Ids of one split under a protocol (see `load`)."""
    if protocol not in PROTOCOLS:
        raise AfunetError(f"Unknown STARE protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}.")
    if protocol == "default":
        if fold is not None or k is not None:
            raise AfunetError('STARE: fold and k apply only to protocol="kfold".')
        return IDS[:10] if split == "train" else IDS[10:]
    fold = 0 if fold is None else fold
    k = DEFAULT_K if k is None else k
    if not 2 <= k <= len(IDS) or not 0 <= fold < k:
        raise AfunetError(
            f"STARE kfold: need 2 <= k <= {len(IDS)} and 0 <= fold < k (got k={k}, fold={fold})."
        )
    test = set(np.array_split(np.array(IDS), k)[fold].tolist())
    return [i for i in IDS if (i in test) == (split == "test")]


def load(
    split: str,
    root: str | Path | None = None,
    protocol: str = "default",
    fold: int | None = None,
    k: int | None = None,
) -> list:
    """Label = Hoover (`ah`), label2 = Kouznetsova (`vk`, human baseline), FOV = `fov.compute_fov`.

    "default": the first ten IDS train, the last ten test, as in DRIU (Maninis et al., 2016).
    "kfold": IDS cut into k contiguous folds (np.array_split), fold `fold` tests (default fold 0
    of k=4, 5 images each; k=20 is leave-one-out).
    """
    ids = split_ids(split, protocol, fold, k)
    base = require_dir(resolve_root(root), FOLDER, HOW_TO_GET)
    samples = []
    for sample_id in ids:
        f = {key: find(base, rel) for key, rel in files(sample_id).items()}
        samples.append(make_sample(sample_id, f["image"], f["label"], None, f["label2"]))
    return samples


def find(base: Path, rel: str) -> Path:
    """base/rel (`.ppm.gz`), or the uncompressed `.ppm` beside it when only that exists."""
    path = base / rel
    plain = path.with_suffix("")  # x.ppm.gz -> x.ppm
    return plain if not path.is_file() and plain.is_file() else path


def count_images(root: Path) -> int:
    """How many of the 20 STARE images are present under root/STARE."""
    base = Path(root) / FOLDER
    return sum(find(base, files(i)["image"]).is_file() for i in IDS)
