"""Base class of every model: any input size in, logits of that same size out."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.errors import AfunetError


class ModelError(AfunetError, ValueError):
    """A model name, option or input shape is wrong; the message lists what is valid."""


class SegmentationModel(nn.Module):
    """Maps (B, in_channels, H, W) to logits (B, out_channels, H, W), for any H and W.

    forward() pads bottom/right to a multiple of ``multiple`` and crops back; reflect padding, since
    zeros would add a step edge to a normalised image, which a vessel detector answers.
    """

    multiple = 16  # four 2x2 down-samplings

    def __init__(self, in_channels: int, out_channels: int, width: int):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Pad, run ``_forward``, crop; a list of logits only for deep-supervision heads."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ModelError(f"{type(self).__name__} expects input (B, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = self._forward(x)
        if isinstance(out, (list, tuple)):
            return [o[..., :h, :w] for o in out]
        return out[..., :h, :w]

    def _forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """The network proper, on an input whose H and W are multiples of `multiple`."""
        raise NotImplementedError
