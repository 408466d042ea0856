"""Topology and thin-vessel measures, to test the paper's claims on small vessels and connectivity.

All functions take 2-D binary maps (numpy bool arrays or torch tensors; leading singleton axes
such as (1, 1, H, W) are squeezed). A ``mask`` (field of view) sets everything outside it to
background before the measure is computed; only vessel widths are measured before the cut.
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
    """Centerline Dice (clDice) of Shit et al., CVPR 2021.

    Topology precision ``Tprec = |S(pred) & target| / |S(pred)|`` and sensitivity
    ``Tsens = |S(target) & pred| / |S(target)|`` with ``S`` the skeleton
    (``skimage.morphology.skeletonize``); clDice is their harmonic mean.

    Empty cases: both maps empty gives 1.0 (nothing to find, nothing claimed); exactly one of
    them empty gives 0.0 (its skeleton is empty, so one of Tprec, Tsens is 0).

    Args:
        pred: bool prediction, 2-D.
        target: bool ground truth, 2-D.
        mask: optional bool field of view.

    Returns:
        clDice in [0, 1].
    """
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
    """Absolute difference in the number of 8-connected components (Betti-0 number).

    A vessel broken in two by the prediction, or a spurious blob, each add 1.

    Args:
        pred: bool prediction, 2-D.
        target: bool ground truth, 2-D.
        mask: optional bool field of view (components are counted inside it).

    Returns:
        |b0(pred) - b0(target)| as int.
    """
    p, t = _as_2d(pred, "pred", mask), _as_2d(target, "target", mask)
    n_p = int(label(p, connectivity=2).max())
    n_t = int(label(t, connectivity=2).max())
    return abs(n_p - n_t)


def vessel_width(target) -> np.ndarray:
    """Local vessel width at every vessel pixel (0 on background), as local thickness.

    Local thickness (Hildebrand & Ruegsegger, J. Microscopy 1997): a pixel's width is the
    diameter ``2r + 1`` of the largest digital disc (``skimage.morphology.disk(r)``) that both
    contains the pixel and fits inside the vessels, found by morphological openings with growing
    discs. A straight vessel of odd width w reads w; an even width w reads w - 1. Unlike giving
    each pixel the width of its nearest skeleton pixel, a trunk's edge next to a branch keeps
    the trunk's width and the blunt end of a wide vessel stays wide (only its corners read
    narrower).

    Args:
        target: bool ground truth, 2-D.

    Returns:
        int array of the target's shape.
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
    """Ground-truth vessel pixels of vessels at most ``max_width`` pixels wide.

    Width is the local thickness of ``vessel_width``, so a 1-px capillary is selected, a 9-px
    trunk is not, and the pixels of a trunk where a capillary branches off stay unselected.

    Args:
        target: bool ground truth, 2-D.
        max_width: largest width (pixels) still called thin.

    Returns:
        bool array of the target's shape.
    """
    t = _as_2d(target, "target")
    return t & (vessel_width(t) <= max_width)


def thin_region(target, mask=None, max_width: int = 3) -> np.ndarray:
    """Pixels on which thin-vessel segmentation is judged (see ``thin_counts``)."""
    t = _as_2d(target, "target")  # widths before the FOV cut, which would narrow vessel ends
    thin = thin_vessel_mask(t, max_width)
    near = ndi.binary_dilation(thin, structure=disk(max_width))
    region = near & ~(t & ~thin)  # thick ground-truth vessels are judged elsewhere
    return region if mask is None else region & _as_2d(mask, "mask")


def thin_counts(pred, target, mask=None, max_width: int = 3, region=None) -> Counts:
    """Confusion counts restricted to the thin-vessel region.

    Region = thin ground-truth vessels (``thin_vessel_mask``) dilated by a disc of radius
    ``max_width``, minus the thick ground-truth vessels, inside the field of view. Missed thin
    vessels are false negatives; predictions in the background around thin vessels (spurious or
    too wide) are false positives; predictions on thick vessels are not counted. Sum these counts
    over images for a pooled thin-vessel F1.

    Args:
        pred: bool prediction, 2-D.
        target: bool ground truth, 2-D.
        mask: optional bool field of view.
        max_width: largest width (pixels) still called thin.
        region: ``thin_region(target, mask, max_width)`` when already computed (it depends
            on the ground truth only, so an evaluation computes it once per image).

    Returns:
        Counts inside the region.
    """
    p = _as_2d(pred, "pred", mask)
    t = _as_2d(target, "target", mask)
    if region is None:
        region = thin_region(t, mask, max_width)
    return confusion(p, t, mask=region)


def thin_f1(pred, target, mask=None, max_width: int = 3) -> float:
    """F1 of the thin vessels of one image: ``scores(thin_counts(...))["f1"]``.

    An image without thin vessels has an empty region and gets 1.0 (the metrics module's
    empty-denominator convention).

    Args:
        pred: bool prediction, 2-D.
        target: bool ground truth, 2-D.
        mask: optional bool field of view.
        max_width: largest width (pixels) still called thin.

    Returns:
        F1 in [0, 1].
    """
    return scores(thin_counts(pred, target, mask, max_width))["f1"]
