"""Augmentations for photographs from other cameras: scale, colour, illumination and blur.

They act on normalised crops during training (after `transforms.Augment`), so a model learns
vessels that do not depend on one camera's resolution, colour response, lighting or optics.
All four are off by default, and when they are off no random number is drawn: the recipes of
the studies train exactly as before. The general-purpose model (`afunet.general`) turns them on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from afunet.data.transforms import normalize

Tensor = torch.Tensor


@dataclass
class Appearance:
    """Random zoom, channel mixing, smooth illumination and Gaussian blur, per sample."""

    scale: float = 0.0  # zoom exp(U(-s, s)): vessels and FOV at another camera's size
    color: float = 0.0  # channel mixing I + U(-c, c) per entry: another sensor's colours
    illumination: float = 0.0  # a smooth field up to this many FOV stds: uneven lighting
    blur: float = 0.0  # Gaussian sigma U(0, b) pixels: softer optics, upsampled photos
    p: float = 0.5  # chance of each enabled transform (zoom aside: always drawn when on)

    def __post_init__(self):
        for name in ("scale", "color", "illumination", "blur"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def photometric(self) -> bool:
        return bool(self.color or self.illumination or self.blur)

    def crop(self, image: Tensor, label: Tensor, fov: Tensor, size: int,
             generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """A random square of side size / zoom from each sample, resampled to size x size."""
        height, width = image.shape[-2:]
        zoom = torch.exp((2 * torch.rand(len(image), generator=generator, dtype=torch.float64)
                          - 1) * self.scale).tolist()
        out = []
        for j, z in enumerate(zoom):
            side = max(8, min(round(size / z), height, width))
            y = int(torch.randint(height - side + 1, (1,), generator=generator))
            x = int(torch.randint(width - side + 1, (1,), generator=generator))
            box = (t[j:j + 1, :, y:y + side, x:x + side] for t in (image, label, fov))
            img, lab, fv = box
            if side != size:
                # Down: antialiased (a smaller photo); masks: bilinear then >= 0.5, still binary.
                img = F.interpolate(img.float(), size=(size, size), mode="bilinear",
                                    align_corners=False, antialias=side > size)
                lab, fv = (F.interpolate(m.float(), size=(size, size), mode="bilinear",
                                         align_corners=False) >= 0.5 for m in (lab, fv))
            out.append((img.to(image.dtype), lab.to(label.dtype), fv.to(fov.dtype)))
        return tuple(torch.cat(parts) for parts in zip(*out, strict=True))

    def __call__(self, image: Tensor, fov: Tensor, generator: torch.Generator) -> Tensor:
        """Colour, illumination and blur on (B, 3, H, W) normalised images; renormalised after."""
        if not self.photometric:
            return image
        n, channels = image.shape[:2]
        u = torch.rand((n, 3), generator=generator)
        mixing = torch.eye(channels) + (2 * torch.rand((n, channels, channels),
                                                       generator=generator) - 1) * self.color
        field = torch.rand((n, 1, 3, 3), generator=generator) * 2 - 1
        amplitude = torch.rand((n, 1, 1, 1), generator=generator) * self.illumination
        sigma = torch.rand(n, generator=generator) * self.blur
        x = image.float()
        out = []
        for j in range(n):
            xj = x[j:j + 1]
            if self.color and u[j, 0] < self.p:
                xj = torch.einsum("oc,bchw->bohw", mixing[j].to(x.device), xj)
            if self.illumination and u[j, 1] < self.p:
                # A 3 x 3 grid of offsets, bicubically upsampled: a gradient or a bright centre.
                smooth = F.interpolate(field[j:j + 1].to(x.device), size=xj.shape[-2:],
                                       mode="bicubic", align_corners=True)
                xj = xj + amplitude[j].to(x.device) * smooth
            if self.blur and u[j, 2] < self.p and sigma[j] > 0.3:
                xj = gaussian_blur(xj, float(sigma[j]))
            out.append(xj)
        # Inference z-scores each photo in its FOV; training inputs keep that contract.
        return normalize(torch.cat(out), fov).to(image.dtype)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W), reflecting at the edges."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    x = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
