"""Decode the formats the retinal sets ship in, with errors that name the file and the fix.

DRIVE: TIFF images, GIF labels; STARE: gzipped PPM (labels are P5 greyscale despite the name);
CHASE_DB1: JPEG and PNG. Pillow reads them all; tifffile covers TIFF codecs a Pillow build lacks.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from afunet.data import Sample
from afunet.data.fov import compute_fov
from afunet.errors import DataError, DatasetMissingError

# Data root folder name -> the name the CLI takes, so an error can give the exact command.
_FOLDER_TO_NAME = {"DRIVE": "drive", "STARE": "stare", "CHASE_DB1": "chase_db1"}


def fix_hint(path: Path) -> str:
    """The command that repairs a data set, guessed from the folder the file lies in."""
    name = next(
        (_FOLDER_TO_NAME[p] for p in reversed(Path(path).parts) if p in _FOLDER_TO_NAME), "NAME"
    )
    return (
        f"re-import the data set with `afunet data import {name} PATH` "
        f"and check it with `afunet data verify {name}`"
    )


def file_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when its name ends in .gz (STARE's .ppm.gz)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix.lower() == ".gz" else data


def read_image(path: str | Path) -> np.ndarray:
    """Decode tif, gif, png, jpg or ppm/pgm (gzipped or not) to an array exactly as stored.

    Palette images (DRIVE `2nd_manual`) come back as indices, so binarise labels with `> 0`.
    Raises DataError, naming the file and the fix, when it is missing, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Missing image file {path}: {fix_hint(path)}.")
    try:
        return _decode(file_bytes(path), path)
    except DataError:
        raise
    except Exception as exc:  # any decoder failure means the same thing to a user
        raise DataError(
            f"Cannot decode {path} ({type(exc).__name__}: {exc}); the file is truncated or corrupt: "
            f"{fix_hint(path)}."
        ) from exc


def _decode(data: bytes, path: Path) -> np.ndarray:
    """Decode bytes with Pillow, falling back to tifffile for TIFF codecs Pillow lacks."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns ("Truncated File Read") on some damaged TIFFs: treat as corrupt.
            warnings.simplefilter("error", UserWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.load()  # force the full decode now: Image.open alone reads only the header
                return np.asarray(im).copy()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, UserWarning):
        if not _is_tiff(path):
            raise
    import tifffile  # only for TIFFs Pillow cannot decode (e.g. a build without libjpeg)

    log = logging.getLogger("tifffile")
    disabled, log.disabled = log.disabled, True  # its log lines would repeat our DataError
    try:
        arr = np.asarray(tifffile.imread(io.BytesIO(data)))
    finally:
        log.disabled = disabled
    if arr.ndim < 2 or arr.size == 0:  # tifffile returns an empty array when the IFD is cut off
        raise ValueError("no image data (truncated TIFF)")
    return arr


def _is_tiff(path: Path) -> bool:
    """True for .tif/.tiff, gzipped or not."""
    suffixes = [s.lower() for s in path.suffixes]
    return bool({".tif", ".tiff"} & set(suffixes))


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a colour fundus photograph as (H, W, 3) uint8 (alpha dropped, greyscale refused)."""
    arr = read_image(path)
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype == np.uint8:
        return np.ascontiguousarray(arr[..., :3])
    raise DataError(
        f"{path} is not an 8-bit colour image (shape {arr.shape}, dtype {arr.dtype}): "
        f"{fix_hint(Path(path))}."
    )


def read_mask(path: str | Path) -> np.ndarray:
    """Read a label or FOV mask as (H, W) bool: any non-zero pixel (or palette index) is True."""
    arr = read_image(path)
    if arr.ndim == 3:
        # Some re-packaged copies save binary labels as RGB; any non-zero channel marks a vessel.
        arr = arr.max(axis=2)
    if arr.ndim != 2:
        raise DataError(f"{path} is not a 2-D mask (shape {arr.shape}): {fix_hint(Path(path))}.")
    return arr > 0


def check_same_size(image_path: Path, image: np.ndarray, other_path: Path, other: np.ndarray):
    """Raise DataError naming both files when a label/mask does not match its image's size."""
    if image.shape[:2] != other.shape[:2]:
        raise DataError(
            f"{other_path} is {other.shape[0]}x{other.shape[1]} (HxW) but its image {image_path} "
            f"is {image.shape[0]}x{image.shape[1]}: the files do not belong together; "
            f"{fix_hint(Path(image_path))}."
        )


def pixel_sha256(arr: np.ndarray) -> str:
    """SHA-256 of decoded pixels (shape, dtype and bytes), so re-packed identical copies match."""
    arr = np.ascontiguousarray(arr)
    digest = hashlib.sha256(f"{arr.shape}|{arr.dtype.str}|".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()


def require_dir(root: Path, folder: str, how_to_get: str) -> Path:
    """root/folder, or DatasetMissingError saying where it was looked for and how to get it."""
    path = Path(root) / folder
    if not path.is_dir():
        raise DatasetMissingError(f"{folder} not found in {Path(root)}. {how_to_get}")
    return path


def make_sample(
    sample_id: str,
    image_path: Path,
    label_path: Path,
    fov_path: Path | None = None,
    label2_path: Path | None = None,
):
    """Read one image and its masks into a Sample; fov_path None computes the FOV instead.

    Raises DataError when a file is unreadable or not the size of the image."""
    image = read_rgb(image_path)
    masks = {}
    for key, path in (("label", label_path), ("fov", fov_path), ("label2", label2_path)):
        if path is not None:
            masks[key] = read_mask(path)
            check_same_size(image_path, image, path, masks[key])
    fov = masks["fov"] if fov_path is not None else compute_fov(image)
    return Sample(sample_id, image, masks["label"], fov, masks.get("label2"))
