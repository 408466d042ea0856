"""The synthetic set: deterministic per seed, and its labels are exactly the drawn vessels."""


import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import skeletonize

from afunet.data import load_dataset
from afunet.data.synthetic import generate, load


@pytest.fixture(scope="module")
def samples():
    return generate(4, size=(256, 256), seed=0)


def test_same_seed_same_arrays_and_different_seed_different():
    a, b, c = (
        generate(2, (96, 80), seed=3),
        generate(2, (96, 80), seed=3),
        generate(2, (96, 80), seed=4),
    )
    for x, y, z in zip(a, b, c, strict=True):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.label, y.label)
        assert np.array_equal(x.fov, y.fov)
        assert not np.array_equal(x.image, z.image) and not np.array_equal(x.label, z.label)
    # Image i depends only on (seed, i): a shorter run is a prefix of a longer one.
    assert np.array_equal(generate(3, (96, 80), seed=3)[1].image, a[1].image)


def test_types_ids_and_shapes(samples):
    assert [s.id for s in samples] == ["syn000", "syn001", "syn002", "syn003"]
    for s in samples:
        assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
        assert s.label.dtype == bool and s.fov.dtype == bool and s.label2 is None
        assert s.label.shape == s.fov.shape == (256, 256)


def test_labels_inside_fov_with_plausible_vessel_fraction(samples):
    for s in samples:
        assert not (s.label & ~s.fov).any()
        assert 0.03 <= s.label[s.fov].mean() <= 0.25
        assert 0.4 < s.fov.mean() < 0.8  # a circular FOV on a dark surround
        assert s.image[~s.fov].max() <= 10


def test_vessels_are_darker_mostly_in_green(samples):
    for s in samples:
        background = s.fov & ~s.label
        green = s.image[..., 1].astype(float)
        red = s.image[..., 0].astype(float)
        green_drop = green[background].mean() - green[s.label].mean()
        red_drop = red[background].mean() - red[s.label].mean()
        assert green_drop > 4  # low but clear contrast
        assert green_drop / green[background].mean() > red_drop / red[background].mean()
        # Against the background right beside each vessel (no disc or vignetting confound).
        ring = ndimage.binary_dilation(s.label, iterations=3) & background
        assert green[ring].mean() - green[s.label].mean() > 6


def test_vessels_range_from_thick_to_one_or_two_pixels(samples):
    for s in samples:
        half_width = ndimage.distance_transform_edt(s.label)
        on_centreline = half_width[skeletonize(s.label)]
        # Centreline distance 1 = a vessel 1-2 px wide; >= 3 = at least 5 px wide.
        assert (on_centreline <= 1).mean() > 0.3
        assert on_centreline.max() >= 3


def test_load_splits_are_disjoint_and_registered():
    train, test = (
        load("train", n_train=3, n_test=2, size=(64, 64)),
        load("test", n_test=2, size=(64, 64)),
    )
    assert [s.id for s in train] == ["syn000", "syn001", "syn002"]
    assert [s.id for s in test] == ["syntest000", "syntest001"]
    assert not np.array_equal(train[0].image, test[0].image)
    via_registry = load_dataset("synthetic", "train", n_train=3, size=(64, 64))
    assert np.array_equal(via_registry[2].label, train[2].label)
    with pytest.raises(ValueError, match="split"):
        load("val")

