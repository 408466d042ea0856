"""AF-UNet: U-Net with asymmetric skips from shallower encoder stages (the paper, Sec. 3.2)."""

import torch
import torch.nn.functional as F

from afunet.models.base import ModelError
from afunet.models.unet import UNet

SKIP_SOURCES = ("adjacent", "first", "none")


class AFUNet(UNet):
    """AF-UNet, "AF-UNet: Asymmetric Fusion UNet" for retinal vessel segmentation, Sec. 3.2, Fig. 1.

    The U-Net of `unet.UNet` (four encoder stages of two 3x3 conv + BN + ReLU with 2x2
    max-pooling, a 1024-channel bottleneck at width 64, decoder stages restored by 2x2 stride-2
    transposed convs, two 3x3 conv + BN + ReLU after each fusion, a 1x1 conv to the logits) in
    which each decoder stage concatenates channel-wise (1) the up-sampled map, (2) the
    same-resolution encoder map (symmetric skip) and (3) one shallower, higher-resolution
    encoder map max-pooled to its resolution (asymmetric skip).

    The paper names the asymmetric sources only as "the first to third blocks" of the encoder.
    Our reading, `skip_source`:
      - "adjacent" (default): the decoder stage at 1/2^d (d = 1, 2, 3) also gets encoder stage
        d-1 (enc0 -> 1/2, enc1 -> 1/4, enc2 -> 1/8), 2x2 max-pooled; so the sources are the
        first three blocks, each used once ("full-scale but non-dense"). The full-resolution
        stage has nothing shallower and keeps only the symmetric skip.
      - "first": encoder stage 0, max-pooled by 2^d, goes to every decoder stage d = 1, 2, 3.
      - "none": no asymmetric skip; structurally identical to U-Net (an ablation).
    The only difference from U-Net is the larger input of the first conv of decoder stages 1-3.

    Args:
        in_channels: input channels.
        out_channels: logit channels (1 for the paper's single-channel map).
        width: channels of the first stage (64 in the paper).
        skip_source: "adjacent", "first" or "none" (see above).
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
