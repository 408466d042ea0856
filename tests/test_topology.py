"""Topology measures on synthetic vessels."""

import numpy as np
import pytest
import torch

from afunet.topology import (
    betti0_error,
    cldice,
    thin_counts,
    thin_f1,
    thin_region,
    thin_vessel_mask,
    vessel_width,
)


def canvas():
    return np.zeros((40, 60), bool)


def line(row=20, c0=5, c1=55, width=1):
    """A horizontal bar of odd width with square ends."""
    img = canvas()
    img[row - width // 2 : row + width // 2 + 1, c0:c1] = True
    return img


def capsule(radius, row=20):
    """A straight vessel with round ends, like a drawn vessel: width 2 * radius + 1."""
    yy, xx = np.mgrid[:40, :60]
    return np.hypot(yy - row, xx - np.clip(xx, 10, 50)) <= radius


def vessels():
    """A 9-px trunk (rows 6-14) with a 1-px branch hanging from it (column 30)."""
    img = capsule(4, row=10)
    img[15:35, 30] = True
    return img


def test_cldice_identical_and_empty():
    t = vessels()
    assert cldice(t, t) == 1.0
    assert cldice(canvas(), canvas()) == 1.0
    assert cldice(canvas(), t) == 0.0
    assert cldice(t, canvas()) == 0.0


def test_cldice_penalises_a_gap_and_accepts_torch():
    t = line()
    broken = t.copy()
    broken[:, 28:33] = False
    value = cldice(broken, t)
    assert 0.9 < value < 1.0
    assert cldice(torch.from_numpy(broken)[None, None], torch.from_numpy(t)) == value


def test_cldice_mask():
    t = line()
    p = t.copy()
    p[:, 28:33] = False
    fov = np.ones_like(t)
    fov[:, 25:] = False
    assert cldice(p, t, fov) == 1.0  # the gap lies outside the field of view


def test_betti0_error_counts_breaks():
    t = vessels()
    assert betti0_error(t, t) == 0
    broken = t.copy()
    broken[25, 30] = False  # cut the thin branch
    assert betti0_error(broken, t) == 1
    fov = np.ones_like(t)
    fov[22:, :] = False
    assert betti0_error(broken, t, fov) == 0


def test_betti0_uses_8_connectivity():
    t = canvas()
    t[np.arange(10, 20), np.arange(10, 20)] = True  # a diagonal line is one component
    assert betti0_error(t, line()) == 0


def test_vessel_width_is_local_thickness():
    for radius in (0, 1, 2, 4):
        t = capsule(radius)
        assert set(np.unique(vessel_width(t)[t])) == {2 * radius + 1}
    assert (vessel_width(capsule(4))[~capsule(4)] == 0).all()
    two = canvas()
    two[20:22, 5:55] = True
    assert set(np.unique(vessel_width(two)[two])) == {1}  # an even width w reads w - 1


def test_thin_vessel_mask():
    assert (thin_vessel_mask(line(width=1)) == line(width=1)).all()
    assert (thin_vessel_mask(capsule(1)) == capsule(1)).all()  # 3 px wide
    assert not thin_vessel_mask(capsule(4)).any()  # 9 px wide
    bar = thin_vessel_mask(line(width=9))
    assert not bar[:, 8:52].any() and bar.sum() <= 4 * 6  # only a square end's corners
    thin = thin_vessel_mask(vessels())
    assert thin[16:35, 30].all()  # the branch (its first pixel is the tip of a trunk disc)
    assert not thin[6:15, 8:52].any()  # not the trunk, not even where the branch leaves it
    assert not thin_vessel_mask(canvas()).any()


def test_thin_f1_on_synthetic_lines():
    t = vessels()
    assert thin_f1(t, t) == 1.0
    # the trunk alone: every thin pixel missed, whatever the trunk quality
    trunk_only = capsule(4, row=10)
    assert thin_f1(trunk_only, t) == 0.0
    # a thin branch drawn 3 px wide: recall perfect, precision 1/3
    wide = t.copy()
    wide[16:35, 29:32] = True  # from row 16: row 15 is the trunk's (see test_thin_vessel_mask)
    c = thin_counts(wide, t)
    assert c.fn == 0 and c.fp == 2 * c.tp
    assert thin_f1(wide, t) == pytest.approx(2 * (1 / 3) / (1 + 1 / 3))
    # errors on the trunk far from the branch do not count
    damaged = t.copy()
    damaged[6:15, 5:20] = False
    assert thin_f1(damaged, t) == 1.0
    # no thin vessel at all: empty region, convention 1.0
    assert thin_f1(trunk_only, trunk_only) == 1.0


def test_thin_f1_mask():
    t = vessels()
    p = t.copy()
    p[25:35, 30] = False  # half the branch missed
    assert thin_f1(p, t) < 1.0
    fov = np.ones_like(t)
    fov[25:, :] = False
    assert thin_f1(p, t, fov) == 1.0


def test_thin_region_ignores_the_fov_cut():
    t = capsule(4)
    fov = np.ones_like(t)
    fov[:, 30:] = False  # cuts the 9-px vessel bluntly
    assert not thin_region(t, fov).any()
    assert thin_region(t).sum() == 0 and thin_region(vessels(), fov).any()
