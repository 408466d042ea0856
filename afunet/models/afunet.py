"""AF-UNet: U-Net with asymmetric skips from shallower encoder stages (the paper, Sec. 3.2)."""

import torch
import torch.nn.functional as F

from afunet.models.base import ModelError
from afunet.models.unet import UNet

SKIP_SOURCES = ("adjacent", "first", "none")


class AFUNet(UNet):
    """AF-UNet (Sec. 3.2, Fig. 1): U-Net whose decoder stages also get a max-pooled shallower map.

    The paper names the sources only as "the first to third blocks"; ``skip_source`` is our reading:
    "adjacent" (default) feeds encoder stage d-1 to decoder stage d = 1..3, "first" feeds stage 0 to
    each, "none" is plain U-Net (an ablation).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: int = 64,
                 skip_source: str = "adjacent"):
        if skip_source not in SKIP_SOURCES:
            raise ModelError(f"unknown skip_source {skip_source!r}; "
                             f"choose one of: {', '.join(SKIP_SOURCES)}")
        # Set before UNet.__init__, which asks _skip_channels() for every decoder stage's width.
        self.skip_source = skip_source
        super().__init__(in_channels, out_channels, width)

    def _source(self, d: int) -> int | None:
        """Encoder stage whose map is the asymmetric skip of decoder stage d, or None."""
        if d == 0 or self.skip_source == "none":
            return None
        return d - 1 if self.skip_source == "adjacent" else 0

    def _skip_channels(self, d: int) -> int:
        src = self._source(d)
        return super()._skip_channels(d) + (0 if src is None else self.channels[src])

    def _skips(self, skips: list[torch.Tensor], d: int, below: torch.Tensor) -> list[torch.Tensor]:
        maps = super()._skips(skips, d, below)
        src = self._source(d)
        if src is not None:
            # One k x k max-pool equals k/2 successive 2x2 poolings (max of maxes).
            maps.append(F.max_pool2d(skips[src], 2 ** (d - src)))
        return maps
