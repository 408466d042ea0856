"""Training loss of AF-UNet: binary cross-entropy plus soft Dice (paper, section 3.3)."""

import torch
import torch.nn.functional as F
from torch import nn


class DiceBCELoss(nn.Module):
    """``bce_weight * BCE + dice_weight * (1 - soft Dice)``, in float32 even under autocast.

    Dice pools the whole batch, not per image: on patches with few vessels per-image Dice is
    dominated by ``smooth`` and noisy; pooled Dice also matches the pooled F1 that is reported.
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
        """Scalar loss of a batch; pixels outside the optional bool ``mask`` count for nothing."""
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
