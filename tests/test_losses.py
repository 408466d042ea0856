"""DiceBCELoss: formula, masks, and numerical stability."""

import pytest
import torch
import torch.nn.functional as F

from afunet.losses import DiceBCELoss

SHAPE = (2, 1, 8, 8)


def manual(logits, target, smooth=1.0):
    p = torch.sigmoid(logits)
    bce = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()
    dice = (2 * (p * target).sum() + smooth) / (p.sum() + target.sum() + smooth)
    return bce + (1 - dice)


def test_matches_manual_formula():
    logits = torch.tensor([[[[0.5, -1.0], [2.0, -0.3]]]])
    target = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    assert DiceBCELoss()(logits, target).item() == pytest.approx(manual(logits, target).item())


def test_weights_and_bool_target():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(SHAPE, generator=g)
    target = torch.rand(SHAPE, generator=g) < 0.3
    bce = F.binary_cross_entropy_with_logits(logits, target.float())
    loss = DiceBCELoss(bce_weight=2.0, dice_weight=0.0)(logits, target)
    assert loss.item() == pytest.approx(2 * bce.item())


def test_dice_is_over_the_batch():
    # Image 0 perfect, image 1 empty target but confident false positives: a batch Dice,
    # unlike a mean of per-image Dice, pools the pixels of both.
    logits = torch.full((2, 1, 2, 2), -20.0)
    logits[0] = 20.0
    logits[1, 0, 0, 0] = 20.0
    target = torch.zeros(2, 1, 2, 2)
    target[0] = 1
    dice_only = DiceBCELoss(bce_weight=0.0, dice_weight=1.0, smooth=1e-6)(logits, target)
    assert dice_only.item() == pytest.approx(1 - 8 / 9, abs=1e-5)


def test_mask_excludes_outside_pixels():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(SHAPE, generator=g)
    target = (torch.rand(SHAPE, generator=g) < 0.3).float()
    mask = torch.rand(SHAPE, generator=g) < 0.6
    loss_fn = DiceBCELoss()
    changed = torch.where(mask, logits, torch.randn(SHAPE, generator=g) * 100)
    changed_target = torch.where(mask, target, 1 - target)
    a = loss_fn(logits, target, mask)
    assert loss_fn(changed, changed_target, mask).item() == pytest.approx(a.item())
    # and equals the loss on the inside pixels alone
    assert a.item() == pytest.approx(loss_fn(logits[mask], target[mask]).item())


@pytest.mark.parametrize("fill", [0.0, 1.0])
@pytest.mark.parametrize("scale", [1.0, 1e4, -1e4])
def test_finite_for_empty_and_full_targets_and_extreme_logits(fill, scale):
    g = torch.Generator().manual_seed(2)
    logits = (torch.randn(SHAPE, generator=g).sign() * scale).requires_grad_()
    target = torch.full(SHAPE, fill)
    loss = DiceBCELoss()(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_perfect_empty_prediction_is_near_zero():
    loss = DiceBCELoss()(torch.full(SHAPE, -1e4), torch.zeros(SHAPE))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_empty_mask_gives_zero_with_finite_gradient():
    logits = torch.randn(SHAPE, requires_grad=True)
    loss = DiceBCELoss()(logits, torch.ones(SHAPE), torch.zeros(SHAPE, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and (logits.grad == 0).all()


def test_float32_under_bf16_autocast():
    conv = torch.nn.Conv2d(1, 1, 3, padding=1)
    x = torch.randn(SHAPE) * 1e3
    target = torch.rand(SHAPE) < 0.2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(x)
        assert logits.dtype == torch.bfloat16
        loss = DiceBCELoss()(logits, target)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(conv.weight.grad).all()


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        DiceBCELoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 4, 4))
