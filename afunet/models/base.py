"""Base class of every model: any input size in, logits of that same size out."""

import torch
import torch.nn.functional as F
from torch import nn

from afunet.errors import AfunetError


class ModelError(AfunetError, ValueError):
    """A model name, option or input shape is wrong; the message lists what is valid."""


class SegmentationModel(nn.Module):
    """A segmentation network that maps (B, in_channels, H, W) to logits (B, out_channels, H, W).

    Fundus images come in sizes that four 2x2 poolings do not divide (DRIVE 584x565, STARE 605x700),
    so forward() pads H and W up to the next multiple of `multiple`, runs `_forward`, and crops
    the logits back. The pad goes at the bottom and right, so pixel (0, 0) keeps its place on the
    pooling grid and the crop is a plain slice.

    Padding mode: reflect. Images are normalised before they reach the model, so the black
    surround of a fundus photo is no longer 0; zero padding would add an artificial step edge
    along the border, which a vessel (edge-like structure) detector responds to. Reflection
    continues the local content (mostly the dark background outside the field of view) instead.
    Reflect needs the pad to be smaller than the side, so inputs smaller than the pad fall back to
    replicate padding.

    Subclasses implement `_forward(x)` for inputs whose H and W are multiples of `multiple`.

    Args:
        in_channels: input channels (3 for RGB fundus images).
        out_channels: logit channels (1 for binary vessel segmentation).
        width: channels of the first stage; deeper stages double it.
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
        """Pad to a multiple of `multiple`, run the network, crop the logits back.

        Args:
            x: images (B, in_channels, H, W), any H and W.
        Returns:
            logits (B, out_channels, H, W); a list of such tensors only for models that return
            several heads in training mode (UNet++ with deep supervision).
        """
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
