"""UNet++ (Zhou et al. 2018): U-Net with nested, dense skip pathways."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.models.base import SegmentationModel
from afunet.models.blocks import DoubleConv, stage_channels


class UNetPlusPlus(SegmentationModel):
    """UNet++, DLMIA 2018: node X^{i,j} convolves X^{i,0..j-1} and the up-sampled X^{i+1,j-1}.

    ``deep_supervision`` gives each X^{0,1..4} a 1x1 head, as in the paper: training mode returns
    the four heads' logits (for a loss averaged over heads), eval mode their mean ("accurate mode").
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 deep_supervision: bool = False):
        super().__init__(in_channels, out_channels, width)
        ch = stage_channels(width)
        self.deep_supervision = deep_supervision
        self.nodes = nn.ModuleDict()
        self.up = nn.ModuleDict()
        for i, j in _grid():
            if j == 0:
                self.nodes[f"{i}_0"] = DoubleConv(in_channels if i == 0 else ch[i - 1], ch[i])
            else:
                self.up[f"{i}_{j}"] = nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2)
                self.nodes[f"{i}_{j}"] = DoubleConv((j + 1) * ch[i], ch[i])
        n_heads = 4 if deep_supervision else 1
        self.heads = nn.ModuleList(nn.Conv2d(ch[0], out_channels, 1) for _ in range(n_heads))

    def _forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        for i, j in _grid():
            if j == 0:
                inp = x if i == 0 else F.max_pool2d(nodes[i - 1, 0], 2)
            else:
                up = self.up[f"{i}_{j}"](nodes[i + 1, j - 1])
                inp = torch.cat([*(nodes[i, k] for k in range(j)), up], dim=1)
            nodes[i, j] = self.nodes[f"{i}_{j}"](inp)
        if not self.deep_supervision:
            return self.heads[0](nodes[0, 4])
        logits = [head(nodes[0, j]) for j, head in enumerate(self.heads, start=1)]
        return logits if self.training else torch.stack(logits).mean(dim=0)


def _grid() -> list[tuple[int, int]]:
    """Nodes (i, j) column by column, so X^{i+1,j-1} exists before X^{i,j} needs it."""
    return [(i, j) for j in range(5) for i in range(5 - j)]
