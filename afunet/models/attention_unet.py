"""Attention U-Net (Oktay et al. 2018): U-Net whose skips pass through additive attention gates."""

import torch
from torch import nn

from afunet.models.blocks import AttentionGate
from afunet.models.unet import UNet


class AttentionUNet(UNet):
    """U-Net whose skips are gated by ``blocks.AttentionGate``, fed the coarser decoder map."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64):
        super().__init__(in_channels, out_channels, width)
        ch = self.channels
        self.gates = nn.ModuleList(
            AttentionGate(ch[d], ch[d + 1], max(1, ch[d] // 2)) for d in range(4)
        )

    def _skips(self, skips: list[torch.Tensor], d: int, below: torch.Tensor) -> list[torch.Tensor]:
        return [self.gates[d](skips[d], below)]
