"""Building blocks shared by the models; convs feeding a BatchNorm have no bias (BN cancels it)."""

import torch
import torch.nn.functional as F
from torch import nn


def stage_channels(width: int, levels: int = 5) -> list[int]:
    """Channels per level, doubling from `width`: width 64 gives [64, 128, 256, 512, 1024]."""
    return [width * 2**i for i in range(levels)]


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) x 2, padded: one U-Net stage (Ronneberger et al. 2015, plus BN)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class ResidualUnit(nn.Module):
    """Pre-activation unit of ResUNet (Zhang 2018); ``first`` drops the lead BN-ReLU, as in it."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, first: bool = False):
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(
            *pre,
            nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as in ResUNet++: pool, FC-ReLU-FC-sigmoid."""

    def __init__(self, ch: int, ratio: int = 8):
        super().__init__()
        hidden = max(1, ch // ratio)
        self.fc = nn.Sequential(
            nn.Linear(ch, hidden, bias=False), nn.ReLU(inplace=True),
            nn.Linear(hidden, ch, bias=False), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc(x.mean(dim=(2, 3)))
        return x * scale[:, :, None, None]


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling of ResUNet++: 3x3 conv + BN per rate (and 1), summed, 1x1."""

    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, ...] = (6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 3, padding=r, dilation=r, bias=False),
                nn.BatchNorm2d(out_ch),
            )
            for r in (*rates, 1)
        )
        self.project = nn.Conv2d(out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(sum(branch(x) for branch in self.branches))


class AttentionGate(nn.Module):
    """Additive attention gate of Attention U-Net (Oktay et al. 2018), as in the authors' code.

    alpha = sigmoid(psi(ReLU(W_x x + W_g g))) on the gate g's coarser (H/2, W/2) grid, resampled
    bilinearly to the skip x's grid; alpha * x then goes through a 1x1 conv + BN.
    """

    def __init__(self, x_ch: int, g_ch: int, inter_ch: int):
        super().__init__()
        self.theta = nn.Conv2d(x_ch, inter_ch, 2, stride=2, bias=False)
        self.phi = nn.Conv2d(g_ch, inter_ch, 1)
        self.psi = nn.Conv2d(inter_ch, 1, 1)
        self.out = nn.Sequential(nn.Conv2d(x_ch, x_ch, 1, bias=False), nn.BatchNorm2d(x_ch))

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(F.relu(self.theta(x) + self.phi(g))))
        alpha = F.interpolate(alpha, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(alpha * x)


class EncoderAttention(nn.Module):
    """Attention block of ResUNet++ (Jha et al. 2019) before each decoder up-sampling.

    As in the authors' code the gate (convs of the pooled encoder map plus x) has no sigmoid, so the
    block is quadratic in its inputs' scale: the likely cause of ResUNet++'s unstable val loss.
    """

    def __init__(self, enc_ch: int, dec_ch: int):
        super().__init__()
        self.enc = _bn_relu_conv(enc_ch, dec_ch)
        self.dec = _bn_relu_conv(dec_ch, dec_ch)
        self.mix = _bn_relu_conv(dec_ch, dec_ch)

    def forward(self, e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.mix(F.max_pool2d(self.enc(e), 2) + self.dec(x)) * x


def _bn_relu_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """BN -> ReLU -> 3x3 conv (pre-activation order)."""
    return nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
                         nn.Conv2d(in_ch, out_ch, 3, padding=1))
