"""Attention U-Net (Oktay et al. 2018): U-Net whose skips pass through additive attention gates."""

import torch
from torch import nn

from afunet.models.blocks import AttentionGate
from afunet.models.unet import UNet


class AttentionUNet(UNet):
    """Attention U-Net: "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018.

    The U-Net of `unet.UNet` (BN, padded convs, transposed-conv up-sampling) in which every
    encoder skip is multiplied by an additive attention gate (`blocks.AttentionGate`) driven by
    the coarser decoder map (the bottleneck for the deepest skip) before concatenation.
    Intermediate gate channels are half the skip's, as in the authors' code.

    Args:
        in_channels: input channels.
        out_channels: logit channels.
        width: channels of the first stage.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64):
        super().__init__(in_channels, out_channels, width)
        ch = self.channels
        self.gates = nn.ModuleList(
            AttentionGate(ch[d], ch[d + 1], max(1, ch[d] // 2)) for d in range(4)
        )

    def _skips(self, skips: list[torch.Tensor], d: int, below: torch.Tensor) -> list[torch.Tensor]:
        return [self.gates[d](skips[d], below)]
