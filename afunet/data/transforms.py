"""Batched torch transforms for fundus images: preparation, normalisation, resizing, augmentation.

Images (N, 3, H, W) uint8 or float, labels and FOVs (N, 1, H, W) bool, as `cache.load_tensors`
gives them; all but CLAHE run on any device. The paper gives no details, so `normalize` and
`resize` are this package's reading of its "normalized" and "adjusted to the same size".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage import exposure

Tensor = torch.Tensor


def prepare(images: Tensor, *, green: bool = False, clahe: bool = False) -> Tensor:
    """Green channel and/or CLAHE on (N, 3, H, W) uint8: steps done once, at cache time.

    ``green`` keeps the channel with the most vessel contrast, copied to 3 so models keep 3 inputs.
    ``clahe`` (skimage, clip 0.01) equalises green, else HSV value; CPU only, so not per step.
    """
    if green:
        images = images[:, 1:2].expand(-1, 3, -1, -1).contiguous()
    if clahe:
        array = images.detach().cpu().permute(0, 2, 3, 1).numpy()
        out = np.empty_like(array)
        for i, image in enumerate(array):
            # The channels are identical after `green`: equalise one and copy it.
            src = image[..., 0] if green else image
            eq = np.rint(exposure.equalize_adapthist(src, clip_limit=0.01) * 255).astype(np.uint8)
            out[i] = eq[..., None] if green else eq
        images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(images.device)
    return images


def normalize(images: Tensor, fovs: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """Per-image, per-channel float32 z-score inside the FOV (None: whole image), 0 outside."""
    # Each photo against its own FOV statistics: "normalized to reduce the brightness difference".
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if fovs is None:
        fovs = torch.ones_like(x[:, :1], dtype=torch.bool)
    mask = fovs.to(x.dtype)
    count = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (x * mask).sum(dim=(2, 3), keepdim=True) / count
    var = ((x - mean) ** 2 * mask).sum(dim=(2, 3), keepdim=True) / count
    return (x - mean) / var.sqrt().clamp_min(eps) * mask


def preprocess(
    images: Tensor, fovs: Tensor | None = None, *, green: bool = False, clahe: bool = False
) -> Tensor:
    """`prepare` then `normalize`: float32 model input from (N, 3, H, W) uint8.

    Keep the defaults on a cache built with green/clahe: CLAHE twice is not CLAHE once.
    """
    return normalize(prepare(images, green=green, clahe=clahe), fovs)


def resize(
    images: Tensor,
    labels: Tensor | None,
    fovs: Tensor | None,
    size: int | tuple[int, int],
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Resize a batch to ``size`` (int: square, or (H, W)); None masks stay None.

    Images: antialiased bilinear, uint8 stays uint8. Masks: area then >= 0.5, so they stay binary;
    vessels much thinner than the scale factor vanish, as in a photo taken at that resolution.
    """
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    out = F.interpolate(
        images.float(), size=size, mode="bilinear", align_corners=False, antialias=True
    )
    if images.dtype == torch.uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return out, resize_mask(labels, size), resize_mask(fovs, size)


def resize_mask(mask: Tensor | None, size: int | tuple[int, int]) -> Tensor | None:
    """Resize a (N, 1, H, W) bool mask with area interpolation and a >= 0.5 threshold."""
    if mask is None:
        return None
    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(mask.float(), size=size, mode="area") >= 0.5


@dataclass
class Augment:
    """Random rotation, flips and contrast change, applied alike to image, label and FOV.

    Random numbers come from the caller's CPU generator, so a seed gives the same result on any
    device and no step waits on the device. ``p``: chance of each enabled transform per sample.
    """

    # True: any angle; a number r: [-r, r] degrees; "90": right angles only; False/0: none.
    # Label and FOV are resampled nearest, so they stay binary; corners rotated in are zero.
    rotation: bool | float | str = True
    hflip: bool = True
    vflip: bool = True
    # Strength a: gamma exp(U(-a, a)) on the FOV's range, contrast 1 + U(-a, a) about the FOV
    # mean, brightness U(-a, a) FOV stds; image only, 0 disables it.
    contrast: float = 0.2
    p: float = 0.5

    def __post_init__(self):
        if isinstance(self.rotation, str) and self.rotation != "90":
            raise ValueError(f"rotation must be a bool, a number or '90', got {self.rotation!r}")
        if not 0.0 <= self.p <= 1.0 or self.contrast < 0:
            raise ValueError(
                f"need 0 <= p <= 1 and contrast >= 0, got p={self.p}, contrast={self.contrast}"
            )

    def __call__(
        self, image: Tensor, label: Tensor, fov: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Augment (B, C, H, W) float images and their (B, 1, H, W) labels and FOVs, dtypes kept.

        ``generator`` must be a CPU torch.Generator; None uses torch's default one."""
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(
                "Augment needs a CPU torch.Generator (parameters are drawn on the CPU)"
            )
        # A fixed number of draws per sample, whatever is enabled, keeps the random stream
        # (and so every later batch) independent of the settings.
        u = torch.rand((image.shape[0], 8), generator=generator, dtype=torch.float64)
        apply = u[:, [0, 2, 3, 4]] < self.p
        image, label, fov = _flip(
            image, label, fov, apply[:, 1] & self.hflip, apply[:, 2] & self.vflip
        )
        if self.rotation is not False and self.rotation != 0:
            image, label, fov = self._rotate(image, label, fov, apply[:, 0], u[:, 1])
        if self.contrast > 0:
            image = self._intensity(image, fov, apply[:, 3], u[:, 5:8])
        return image, label, fov

    def _rotate(self, image, label, fov, flags: Tensor, u: Tensor):
        """Rotate the flagged samples: exact for right angles where possible, else resampled."""
        height, width = image.shape[-2:]
        if self.rotation == "90":
            quarter = torch.floor(u * 4).long().clamp(max=3) * flags
            degrees = quarter * 90.0
            exact = (quarter % 2 == 0) | (height == width)
            turns = (quarter * exact).tolist()  # CPU values: no device synchronisation
            if any(turns):
                image, label, fov = (
                    torch.stack(
                        [t[i].rot90(k, (-2, -1)) if k else t[i] for i, k in enumerate(turns)]
                    )
                    for t in (image, label, fov)
                )
            flags = flags & ~exact
        else:
            limit = 180.0 if self.rotation is True else float(self.rotation)
            degrees = (2 * u - 1) * limit
        if not flags.any():
            return image, label, fov
        index = flags.nonzero().flatten()  # CPU
        grid = _rotation_grid(degrees[index], height, width, image.device)
        rotated = F.grid_sample(
            _take(image, index).float(),
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        masks = torch.cat([_take(label, index), _take(fov, index)], 1).float()
        masks = F.grid_sample(
            masks, grid, mode="nearest", padding_mode="zeros", align_corners=False
        )
        image = _put(image, index, rotated.to(image.dtype))
        label = _put(label, index, _like(masks[:, :1], label))
        fov = _put(fov, index, _like(masks[:, 1:], fov))
        return image, label, fov

    def _intensity(self, image: Tensor, fov: Tensor, flags: Tensor, u: Tensor) -> Tensor:
        """Gamma, contrast and brightness inside the FOV of the flagged samples (image only)."""
        if not flags.any():
            return image
        index = flags.nonzero().flatten()
        factors = _to(((2 * u[index] - 1) * self.contrast).float(), image.device)
        gamma, contrast, brightness = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
        x = _take(image, index)
        mask = _take(fov, index).to(x.dtype)
        count = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        masked = x * mask
        mean = masked.sum(dim=(2, 3), keepdim=True) / count
        power = torch.linalg.vecdot(masked.flatten(2), x.flatten(2))[..., None, None] / count
        std = (power - mean**2).clamp_min(0).sqrt()
        penalty = (1 - mask) * 1e9  # masked min / max by arithmetic, cheaper than torch.where
        low = (x + penalty).amin(dim=(2, 3), keepdim=True) * (count > 1)
        high = (x - penalty).amax(dim=(2, 3), keepdim=True) * (count > 1)
        span = (high - low).clamp_min(1e-6)
        # Gamma acts on the FOV's own [low, high] range, so it works on z-scored values too;
        # exp(g log t) with t >= 1e-6 avoids pow's slow path at zero.
        t = torch.addcmul(-low / span, x, 1 / span).clamp_(1e-6, 1).log_().mul_(gamma.exp()).exp_()
        # Contrast around the mean and brightness, folded into one multiply-add on t.
        scale = (1 + contrast) * span
        shift = mean + (1 + contrast) * (low - mean) + brightness * std
        out = torch.addcmul(shift, t, scale)
        return _put(image, index, torch.lerp(x, out, mask))


def _flip(image: Tensor, label: Tensor, fov: Tensor, hflip: Tensor, vflip: Tensor):
    """Flip the flagged samples (exact pixel moves); flags are CPU tensors, so no device sync."""
    if not (hflip.any() or vflip.any()):
        return image, label, fov
    dims = [
        [d for d, f in ((-1, h), (-2, v)) if f]
        for h, v in zip(hflip.tolist(), vflip.tolist(), strict=True)
    ]
    return tuple(
        torch.stack([t[i].flip(d) if d else t[i] for i, d in enumerate(dims)])
        for t in (image, label, fov)
    )


def _rotation_grid(degrees: Tensor, height: int, width: int, device=None) -> Tensor:
    """grid_sample grid (N, H, W, 2) rotating by ``degrees`` (CPU) about the image centre."""
    # Built on the device from outer products (cheaper than F.affine_grid's batched matmul on the
    # CPU), in float64 so right angles land exactly on pixel centres.
    device = torch.device("cpu") if device is None else torch.device(device)
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    rad = degrees.double() * (math.pi / 180)
    cos, sin = (_to(v.view(-1, 1, 1).to(dtype), device) for v in (torch.cos(rad), torch.sin(rad)))
    xs = ((torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1).view(1, 1, -1)
    ys = ((torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1).view(1, -1, 1)
    # Pixel-space rotation in [-1, 1] grid coordinates: the off-diagonal terms carry the aspect.
    gx = cos * xs - sin * (height / width) * ys
    gy = sin * (width / height) * xs + cos * ys
    return torch.stack([gx, gy], dim=-1).float()


def _to(t: Tensor, device: torch.device) -> Tensor:
    """Host-to-device copy that does not wait for the device (the source is a small CPU tensor)."""
    return t.to(device, non_blocking=True)


def _take(t: Tensor, index: Tensor) -> Tensor:
    """Samples ``index`` (CPU) of a batch; the batch itself when all are taken (no copy)."""
    if len(index) == t.shape[0]:
        return t
    return t.index_select(0, _to(index, t.device))


def _put(t: Tensor, index: Tensor, values: Tensor) -> Tensor:
    """A copy of ``t`` with samples ``index`` replaced by ``values`` (``values`` if all)."""
    if len(index) == t.shape[0]:
        return values
    return t.index_copy(0, _to(index, t.device), values)


def _like(values: Tensor, reference: Tensor) -> Tensor:
    """Resampled {0, 1} floats in the dtype of ``reference`` (bool stays bool)."""
    return values > 0.5 if reference.dtype == torch.bool else values.to(reference.dtype)
