"""Topology and thin-vessel measures, to test the paper's claims on small vessels and connectivity.

Inputs: 2-D binary maps (numpy or torch); ``mask`` zeroes all outside the field of view first.
"""

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.morphology import disk, skeletonize

from afunet.metrics import Counts, as_bool, confusion, scores


def _as_2d(x, name: str, mask=None) -> np.ndarray:
    """A bool 2-D map, zeroed outside the optional mask."""
    a = as_bool(x, name)
    a = a.reshape(a.shape[-2:]) if a.ndim > 2 and np.prod(a.shape[:-2]) == 1 else a
    if a.ndim != 2:
        raise ValueError(f"{name} must be a single 2-D map, got shape {a.shape}")
    if mask is not None:
        m = _as_2d(mask, "mask")
        if m.shape != a.shape:
            raise ValueError(f"mask shape {m.shape} != {name} shape {a.shape}")
        a = a & m
    return a


def cldice(pred, target, mask=None) -> float:
    """Centerline Dice (Shit et al., CVPR 2021); 1.0 if both maps are empty, 0.0 if one is."""
    p, t = _as_2d(pred, "pred", mask), _as_2d(target, "target", mask)
    sp, st = skeletonize(p), skeletonize(t)
    n_sp, n_st = np.count_nonzero(sp), np.count_nonzero(st)
    if n_sp == 0 and n_st == 0:
        return 1.0
    if n_sp == 0 or n_st == 0:
        return 0.0
    tprec = np.count_nonzero(sp & t) / n_sp
    tsens = np.count_nonzero(st & p) / n_st
    if tprec + tsens == 0:
        return 0.0
    return float(2 * tprec * tsens / (tprec + tsens))


def betti0_error(pred, target, mask=None) -> int:
    """|b0(pred) - b0(target)|: difference in 8-connected component counts."""
    p, t = _as_2d(pred, "pred", mask), _as_2d(target, "target", mask)
    n_p = int(label(p, connectivity=2).max())
    n_t = int(label(t, connectivity=2).max())
    return abs(n_p - n_t)


def vessel_width(target) -> np.ndarray:
    """Local-thickness width at each vessel pixel (0 on background), Hildebrand 1997.

    2r + 1 for the largest ``disk(r)`` holding the pixel inside the vessels (even w reads w - 1),
    so a trunk's edge next to a branch keeps the trunk's width, unlike nearest-skeleton width.
    """
    t = _as_2d(target, "target")
    width = t.astype(np.int64)
    r = 1
    while True:
        opened = ndi.binary_opening(t, structure=disk(r))
        if not opened.any():
            return width
        width[opened] = 2 * r + 1  # radii grow, so the largest fitting disc wins
        r += 1


def thin_vessel_mask(target, max_width: int = 3) -> np.ndarray:
    """Ground-truth pixels of vessels at most ``max_width`` px wide (local thickness)."""
    t = _as_2d(target, "target")
    return t & (vessel_width(t) <= max_width)


def thin_region(target, mask=None, max_width: int = 3) -> np.ndarray:
    """Thin vessels dilated by ``disk(max_width)``, minus thick vessels, inside the FOV."""
    t = _as_2d(target, "target")  # widths before the FOV cut, which would narrow vessel ends
    thin = thin_vessel_mask(t, max_width)
    near = ndi.binary_dilation(thin, structure=disk(max_width))
    region = near & ~(t & ~thin)  # thick ground-truth vessels are judged elsewhere
    return region if mask is None else region & _as_2d(mask, "mask")


def thin_counts(pred, target, mask=None, max_width: int = 3, region=None) -> Counts:
    """Confusion counts inside ``thin_region``; sum them over images for a pooled thin F1."""
    p = _as_2d(pred, "pred", mask)
    t = _as_2d(target, "target", mask)
    if region is None:
        region = thin_region(t, mask, max_width)
    return confusion(p, t, mask=region)


def thin_f1(pred, target, mask=None, max_width: int = 3) -> float:
    """Thin-vessel F1 of one image; 1.0 when it has no thin vessel (empty region)."""
    return scores(thin_counts(pred, target, mask, max_width))["f1"]
