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
    """ResUNet++: "ResUNet++: An Advanced Architecture for Medical Image Segmentation", ISM 2019.

    Encoder: a stem residual unit and three stride-2 pre-activation residual units, each followed
    by squeeze-and-excitation, width * (1, 2, 4, 8) channels. Bridge: ASPP to width * 16 at 1/8
    resolution (the bridge does not down-sample, so three down-samplings in all, as in the
    paper; `multiple` is 8). Decoder, three times: attention block (encoder-guided), 2x nearest
    up-sampling, concatenation with the encoder map, residual unit. Output: ASPP to width
    channels, then a 1x1 conv. The paper's code uses width 16 (16-32-64-128, bridge 256).
    Against that code (m_resunet.py): it also puts squeeze-and-excitation after each decoder
    unit, which this model does not; like it, the attention gate has no sigmoid (see
    EncoderAttention).

    Args:
        in_channels: input channels.
        out_channels: logit channels.
        width: channels of the stem.
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
