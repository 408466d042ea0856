"""Training loss of AF-UNet: binary cross-entropy plus soft Dice (paper, section 3.3)."""

import torch
import torch.nn.functional as F
from torch import nn


class DiceBCELoss(nn.Module):
    """Composite loss ``bce_weight * BCE + dice_weight * (1 - soft Dice)`` (AF-UNet, section 3.3).

    BCE is computed from logits with ``binary_cross_entropy_with_logits`` (log-sum-exp form, so
    logits of +-1e4 give finite values and gradients) and averaged over the evaluated pixels.
    Soft Dice is ``(2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)`` with ``p = sigmoid``.

    Dice is computed **over the whole batch** (all pixels of all images pooled), not per image and
    then averaged: training batches are often patches or crops holding few or no vessel pixels, and
    a per-image Dice on those is dominated by ``smooth`` and gives noisy, large gradients. The
    pooled form is also the differentiable counterpart of the pooled F1 reported in evaluation.
    With an all-background batch and an all-background prediction the Dice term is 0 (thanks to
    ``smooth``), so empty and full targets are well defined.

    The loss is always computed in float32 (logits are cast and autocast is disabled locally), so
    it is safe under bf16/fp16 autocast.

    Args:
        bce_weight: weight of the BCE term.
        dice_weight: weight of the Dice term.
        smooth: additive smoothing of the Dice numerator and denominator (must be > 0 for empty
            targets to be defined).
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        if smooth <= 0:
            raise ValueError(f"smooth must be > 0 so that empty targets are defined, got {smooth}")
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Loss of a batch.

        Args:
            logits: raw scores, shape (B, 1, H, W) (any shape works, as long as all agree).
            target: ground truth of the same shape, bool or float in [0, 1].
            mask: optional bool field of view of the same shape; pixels outside it contribute
                nothing to either term (nor to the gradient).

        Returns:
            Scalar float32 tensor.
        """
        if target.shape != logits.shape:
            raise ValueError(f"target shape {tuple(target.shape)} != logits {tuple(logits.shape)}")
        if mask is not None and mask.shape != logits.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} != logits {tuple(logits.shape)}")
        with torch.autocast(device_type=logits.device.type, enabled=False):
            x = logits.float()
            t = target.float()
            w = torch.ones_like(x) if mask is None else mask.float()
            # clamp_min keeps an all-outside mask at loss 0 (with zero gradient), not 0/0.
            n = w.sum().clamp_min(1.0)
            bce = (F.binary_cross_entropy_with_logits(x, t, reduction="none") * w).sum() / n
            p = torch.sigmoid(x) * w
            t = t * w
            inter = (p * t).sum()
            dice = (2.0 * inter + self.smooth) / (p.sum() + t.sum() + self.smooth)
            return self.bce_weight * bce + self.dice_weight * (1.0 - dice)
