"""U-Net (Ronneberger, Fischer & Brox 2015) with batch normalisation and padded convolutions."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.models.base import SegmentationModel
from afunet.models.blocks import DoubleConv, stage_channels


class UNet(SegmentationModel):
    """U-Net, MICCAI 2015, plus padded convs (no skip cropping) and BN; transposed-conv up-sampling.

    AF-UNet and Attention U-Net override only the skip hooks ``_skip_channels`` and ``_skips``, so
    they differ from U-Net exactly in their skips.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64):
        super().__init__(in_channels, out_channels, width)
        ch = self.channels = stage_channels(width)
        self.encoder = nn.ModuleList(
            DoubleConv(c_in, c) for c_in, c in zip([in_channels, *ch[:3]], ch[:4], strict=True)
        )
        self.bottleneck = DoubleConv(ch[3], ch[4])
        # up[d] and decoder[d] work at resolution 1/2^d, d = 0 (full) .. 3.
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[d + 1], ch[d], 2, stride=2) for d in range(4))
        self.decoder = nn.ModuleList(
            DoubleConv(ch[d] + self._skip_channels(d), ch[d]) for d in range(4)
        )
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    def _skip_channels(self, d: int) -> int:
        """Channels that the skips bring to decoder stage d (the encoder map's)."""
        return self.channels[d]

    def _skips(self, skips: list[torch.Tensor], d: int, below: torch.Tensor) -> list[torch.Tensor]:
        """Maps concatenated at decoder stage d; ``below``: the coarser map (a gate's input)."""
        return [skips[d]]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for d in reversed(range(4)):
            below = x
            x = self.up[d](x)
            x = self.decoder[d](torch.cat([x, *self._skips(skips, d, below)], dim=1))
        return self.head(x)
