"""ResUNet (Zhang, Liu & Wang 2018): U-Net built from pre-activation residual units."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.models.base import SegmentationModel
from afunet.models.blocks import ResidualUnit, stage_channels


class ResUNet(SegmentationModel):
    """ResUNet, IEEE GRSL 2018: residual units, stride-2 down-sampling, nearest 2x up-sampling.

    The paper has three encoder units and a bridge (64-128-256, 512); we use four and a bridge
    (width x 1, 2, 4, 8 and 16) to be comparable with the U-Net family.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64):
        super().__init__(in_channels, out_channels, width)
        ch = stage_channels(width)
        self.encoder = nn.ModuleList(
            [ResidualUnit(in_channels, ch[0], first=True)]
            + [ResidualUnit(ch[i - 1], ch[i], stride=2) for i in range(1, 4)]
        )
        self.bridge = ResidualUnit(ch[3], ch[4], stride=2)
        # decoder[d] works at resolution 1/2^d.
        self.decoder = nn.ModuleList(ResidualUnit(ch[d + 1] + ch[d], ch[d]) for d in range(4))
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for unit in self.encoder:
            x = unit(x)
            skips.append(x)
        x = self.bridge(x)
        for d in reversed(range(4)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.decoder[d](torch.cat([x, skips[d]], dim=1))
        return self.head(x)
