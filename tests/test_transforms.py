"""Transforms: normalisation statistics, binary resizing, and aligned, seeded augmentation."""

import numpy as np
import pytest
import torch

from afunet.data.synthetic import generate
from afunet.data.transforms import (
    Augment,
    _rotation_grid,
    normalize,
    prepare,
    preprocess,
    resize,
    resize_mask,
)


def _batch(n=4, size=(96, 80), seed=0):
    """Synthetic (images uint8, labels bool, fovs bool) tensors."""
    samples = generate(n, size, seed=seed)
    images = torch.stack([torch.from_numpy(s.image).permute(2, 0, 1) for s in samples])
    labels = torch.stack([torch.from_numpy(s.label)[None] for s in samples])
    fovs = torch.stack([torch.from_numpy(s.fov)[None] for s in samples])
    return images, labels, fovs


@pytest.fixture(scope="module")
def batch():
    return _batch()


def _fov_stats(x, fovs):
    """Per image and channel mean and population std inside the FOV."""
    stats = [
        (x[i, c][fovs[i, 0]].mean().item(), x[i, c][fovs[i, 0]].std(unbiased=False).item())
        for i in range(x.shape[0])
        for c in range(x.shape[1])
    ]
    return np.array(stats)


def test_preprocess_zero_mean_unit_std_inside_fov_and_zero_outside(batch):
    images, _, fovs = batch
    x = preprocess(images, fovs)
    assert x.dtype == torch.float32 and x.shape == images.shape
    stats = _fov_stats(x, fovs)
    np.testing.assert_allclose(stats[:, 0], 0, atol=1e-5)
    np.testing.assert_allclose(stats[:, 1], 1, atol=1e-4)
    assert (x * ~fovs).abs().max() == 0
    # Without FOVs the whole image is used.
    whole = normalize(images)
    assert abs(whole.mean().item()) < 1e-5


def test_green_replicates_one_channel_and_clahe_keeps_normalisation(batch):
    images, _, fovs = batch
    green = prepare(images, green=True)
    assert green.dtype == torch.uint8 and torch.equal(green[:, 0], images[:, 1])
    assert torch.equal(green[:, 0], green[:, 2])
    x = preprocess(images[:2], fovs[:2], green=True, clahe=True)
    assert x.shape == (2, 3, 96, 80) and torch.equal(x[:, 0], x[:, 1])
    np.testing.assert_allclose(_fov_stats(x, fovs[:2])[:, 1], 1, atol=1e-4)
    assert not torch.equal(prepare(images[:1], clahe=True), images[:1])


def test_resize_keeps_masks_binary_and_images_uint8(batch):
    images, labels, fovs = batch
    small_images, small_labels, small_fovs = resize(images, labels, fovs, (48, 40))
    assert small_images.shape == (4, 3, 48, 40) and small_images.dtype == torch.uint8
    assert small_labels.dtype == torch.bool and small_fovs.dtype == torch.bool
    assert small_labels.shape == small_fovs.shape == (4, 1, 48, 40)
    # Area interpolation + threshold keeps roughly the vessel and FOV fractions.
    assert abs(small_fovs.float().mean() - fovs.float().mean()) < 0.02
    assert abs(small_labels.float().mean() - labels.float().mean()) < 0.03
    assert torch.equal(resize_mask(labels, (96, 80)), labels)  # same size: unchanged
    square, none_label, none_fov = resize(images.float(), None, None, 64)
    assert square.shape == (4, 3, 64, 64) and none_label is None and none_fov is None


def _aligned_batch(batch):
    """Image whose channel 0 equals the label and channel 1 the FOV: alignment is visible."""
    _, labels, fovs = batch
    image = torch.cat([labels.float(), fovs.float(), torch.rand(labels.shape)], 1)
    return image, labels, fovs


def test_right_angles_and_flips_move_pixels_exactly():
    _, labels, fovs = _batch(8, (64, 64), seed=1)
    image, labels, fovs = _aligned_batch((None, labels, fovs))
    augment = Augment(rotation="90", contrast=0, p=0.9)
    for seed in range(3):
        out_image, out_label, out_fov = augment(
            image, labels, fovs, torch.Generator().manual_seed(seed)
        )
        assert torch.equal(out_image[:, :1] > 0.5, out_label) and torch.equal(
            out_image[:, 1:2] > 0.5, out_fov
        )
        assert set(out_image[:, 0].unique().tolist()) <= {0.0, 1.0}  # no interpolation at all
        assert out_label.sum() == labels.sum()  # pixels only moved
    # Flips on a non-square batch are exact too.
    image, labels, fovs = _aligned_batch(_batch(4, (50, 40), seed=2))
    out_image, out_label, _ = Augment(rotation=False, contrast=0, p=1.0)(image, labels, fovs)
    assert torch.equal(out_label, labels.flip(-1).flip(-2))
    assert torch.equal(out_image, image.flip(-1).flip(-2))


def test_arbitrary_rotation_keeps_labels_binary_and_aligned(batch):
    image, labels, fovs = _aligned_batch(batch)
    out_image, out_label, out_fov = Augment(rotation=True, contrast=0, p=1.0)(
        image, labels, fovs, torch.Generator().manual_seed(0)
    )
    assert out_label.dtype == torch.bool and out_fov.dtype == torch.bool
    assert not torch.equal(out_label, labels)
    agree = ((out_image[:, :1] > 0.5) == out_label).float().mean()
    vessels = out_label | (out_image[:, :1] > 0.5)
    iou = (out_label & (out_image[:, :1] > 0.5)).sum() / vessels.sum()
    assert agree > 0.99 and iou > 0.85
    assert ((out_image[:, 1:2] > 0.5) == out_fov).float().mean() > 0.995
    # Float labels come back as floats in {0, 1}.
    _, float_label, _ = Augment(contrast=0, p=1.0)(image, labels.float(), fovs)
    assert float_label.dtype == torch.float32 and set(float_label.unique().tolist()) <= {0.0, 1.0}


def test_rotation_is_a_true_rotation_on_non_square_images():
    image = torch.rand(1, 1, 40, 30)
    grid = _rotation_grid(torch.tensor([90.0]), 40, 30)
    rotated = torch.nn.functional.grid_sample(image, grid, mode="nearest", align_corners=False)
    # The central 30 x 30 square turns onto itself; the rest comes from outside (zeros).
    assert torch.equal(rotated[..., 5:35, :], torch.rot90(image[..., 5:35, :], 1, (-2, -1)))
    assert rotated[..., :5, :].abs().max() == 0


def test_corners_rotated_in_are_zero_in_image_label_and_fov():
    ones = torch.ones(2, 3, 32, 48)
    mask = torch.ones(2, 1, 32, 48, dtype=torch.bool)
    image, label, fov = Augment(rotation=45.0, hflip=False, vflip=False, contrast=0, p=1.0)(
        ones, mask, mask, torch.Generator().manual_seed(0)
    )
    corner = (slice(None), slice(None), 0, 0)
    assert image[corner].abs().max() == 0 and not label[corner].any() and not fov[corner].any()


def test_same_seed_same_output_and_different_seed_different(batch):
    images, labels, fovs = batch
    x = preprocess(images, fovs)
    augment = Augment()
    a = augment(x, labels, fovs, torch.Generator().manual_seed(5))
    b = augment(x, labels, fovs, torch.Generator().manual_seed(5))
    c = augment(x, labels, fovs, torch.Generator().manual_seed(6))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(torch.equal(u, v) for u, v in zip(a, c, strict=True))


def test_contrast_changes_only_the_image_inside_the_fov(batch):
    images, labels, fovs = batch
    x = preprocess(images, fovs)
    augment = Augment(rotation=False, hflip=False, vflip=False, contrast=0.3, p=1.0)
    out, out_label, out_fov = augment(x, labels, fovs, torch.Generator().manual_seed(0))
    assert torch.equal(out_label, labels) and torch.equal(out_fov, fovs)
    assert torch.equal(out * ~fovs, x * ~fovs)
    assert not torch.allclose(out, x) and torch.isfinite(out).all()
    # Vessels stay darker than their surroundings: the change is monotone.
    green, vessel = out[:, 1:2], labels & fovs
    assert green[vessel].mean() < green[fovs & ~labels].mean()


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="rotation"):
        Augment(rotation="45")
    with pytest.raises(ValueError, match="p="):
        Augment(p=1.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_parameters_on_cpu_and_gpu(batch):
    images, labels, fovs = batch
    x = preprocess(images, fovs)
    cpu = Augment()(x, labels, fovs, torch.Generator().manual_seed(3))
    gpu = Augment()(x.cuda(), labels.cuda(), fovs.cuda(), torch.Generator().manual_seed(3))
    assert torch.allclose(cpu[0], gpu[0].cpu(), atol=1e-4)
    assert ((cpu[1] == gpu[1].cpu()).float().mean()) > 0.999
