"""ResUNet++ (Jha et al. 2019): ResUNet with squeeze-excitation, ASPP and attention blocks."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.models.base import SegmentationModel
from afunet.models.blocks import (
    ASPP,
    EncoderAttention,
    ResidualUnit,
    SqueezeExcite,
    stage_channels,
)


class ResUNetPlusPlus(SegmentationModel):
    """ResUNet++, ISM 2019: SE after each encoder unit, ASPP bridge and output, attention decoder.

    Three down-samplings as in the paper (``multiple`` 8); its code uses width 16. Unlike that code
    (m_resunet.py) there is no SE after decoder units; like it, the attention has no sigmoid.
    """

    multiple = 8  # three stride-2 units

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64):
        super().__init__(in_channels, out_channels, width)
        ch = stage_channels(width)
        self.encoder = nn.ModuleList(
            [nn.Sequential(ResidualUnit(in_channels, ch[0], first=True), SqueezeExcite(ch[0]))]
            + [nn.Sequential(ResidualUnit(ch[i - 1], ch[i], stride=2), SqueezeExcite(ch[i]))
               for i in range(1, 4)]
        )
        self.bridge = ASPP(ch[3], ch[4])
        # Stage k (k = 2, 1, 0) meets encoder map k at resolution 1/2^k and outputs ch[k + 1].
        self.attention = nn.ModuleList(EncoderAttention(ch[k], ch[k + 2]) for k in range(3))
        self.decoder = nn.ModuleList(ResidualUnit(ch[k + 2] + ch[k], ch[k + 1]) for k in range(3))
        self.out = ASPP(ch[1], ch[0])
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = self.bridge(x)
        for k in reversed(range(3)):
            x = self.attention[k](skips[k], x)
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.decoder[k](torch.cat([x, skips[k]], dim=1))
        return self.head(self.out(x))
