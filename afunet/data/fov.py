"""Field-of-view (FOV) masks for the sets that ship none (STARE, CHASE_DB1): one deterministic
method for every image, checked against DRIVE's official masks (see data/README.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

RED_THRESHOLD = 35
OPENING_ITERATIONS = 2


def compute_fov(image: np.ndarray, threshold: int = RED_THRESHOLD) -> np.ndarray:
    """(H, W) bool FOV of an (H, W, 3) uint8 RGB fundus image; all False for an all-dark one."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"compute_fov expects an (H, W, 3) image, got shape {image.shape}")
    # The camera's surround is near black in red; vessels and lesions in the fundus stay above.
    mask = image[..., 0] > threshold
    # Opening (3x3 cross) cuts specks and glare bridges joining the fundus to text in the surround.
    mask = ndi.binary_opening(mask, iterations=OPENING_ITERATIONS)
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    # The largest component is the fundus disc; filling holes keeps dark lesions inside the FOV.
    largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    return ndi.binary_fill_holes(labels == largest)


def fov_diameter(fov) -> float:
    """Diameter (px) of the disc with the FOV's area: the scale of a fundus photograph."""
    return float(np.sqrt(4.0 * np.count_nonzero(np.asarray(fov)) / np.pi))
