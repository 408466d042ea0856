"""A procedural, seeded set of fundus-like images with exact vessel labels.

For tests, smoke runs and teaching only: it runs loaders, models, training and evaluation end to
end without the real sets, and is never presented as a result. Vessels are rasterised into the
label first and the image is rendered from label + background, so the label is exact.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from afunet.data import Sample

# Step between centreline points in pixels. Below 1 so that rounded consecutive points are
# always 8-connected: the centreline needs no line drawing.
_STEP = 0.9
# Cap on centreline points per tree (times the area scale): bounds time on unlucky seeds.
_MAX_POINTS = 4000
# Stream numbers keep the train and test images on disjoint seeds.
_STREAMS = {"train": 0, "test": 1}


def generate(
    n: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    *,
    stream: int = 0,
    prefix: str = "syn",
    lesions: bool = True,
) -> list[Sample]:
    """``n`` Samples with ids ``f"{prefix}{i:03d}"``; image i depends only on (seed, stream, i).

    So ``generate(4)`` is a prefix of ``generate(8)``; ``stream`` gives other images for the same
    seed (``load``: 0 train, 1 test); ``lesions`` adds unlabelled bright and dark blobs.
    """
    height, width = int(size[0]), int(size[1])
    if n < 0 or height < 32 or width < 32:
        raise ValueError(f"need n >= 0 and size >= (32, 32), got n={n}, size={size}")
    samples = []
    for i in range(n):
        rng = np.random.default_rng([int(seed), int(stream), i])
        image, label, fov = _render_one(rng, height, width, lesions)
        samples.append(
            Sample(id=f"{prefix}{i:03d}", image=image, label=label, fov=fov, label2=None)
        )
    return samples


def load(
    split: str,
    root=None,
    n_train: int = 8,
    n_test: int = 4,
    size: tuple[int, int] = (128, 128),
    seed: int = 0,
    **kw,
) -> list[Sample]:
    """The "synthetic" set: train ids "syn000"..., test "syntest000"..., on disjoint seed streams.

    ``root`` is ignored; ``size`` is small so smoke runs are quick; ``**kw`` go to `generate`.
    """
    if split not in _STREAMS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    n = n_train if split == "train" else n_test
    prefix = "syn" if split == "train" else "syntest"
    return generate(n, size=size, seed=seed, stream=_STREAMS[split], prefix=prefix, **kw)


def _render_one(rng: np.random.Generator, height: int, width: int, lesions: bool):
    """Draw one (image, label, fov): geometry first, then the image from the label."""
    scale = min(height, width) / 256.0
    # Widths grow more slowly than the image so that thin vessels stay ~1 px at every size,
    # as in real photographs where capillary-scale vessels sit at the resolution limit.
    width_scale = np.sqrt(scale)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    centre = np.array([height / 2, width / 2]) + rng.uniform(-0.02, 0.02, 2) * min(height, width)
    radius = 0.46 * min(height, width) * rng.uniform(0.95, 1.0)
    fov = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2

    side = rng.choice([-1.0, 1.0])  # optic disc left or right of the centre
    disc = centre + radius * np.array([rng.uniform(-0.1, 0.1), side * rng.uniform(0.55, 0.7)])
    disc_radius = radius * rng.uniform(0.09, 0.12)
    temporal = 0.0 if side < 0 else np.pi  # direction from the disc towards the macula

    points = _vessel_trees(rng, disc, disc_radius, temporal, centre, radius, scale, width_scale)
    label, strength = _rasterise(points, (height, width))
    label &= fov

    image = _background(rng, yy, xx, centre, radius, disc, disc_radius, temporal)
    _darken_vessels(rng, image, label, strength)
    if lesions:
        _add_lesions(rng, image, centre, radius, scale)
    image += rng.uniform(2.0, 4.0) * rng.standard_normal(image.shape, dtype=np.float32)
    # Outside the FOV: the camera's dark surround with a little sensor noise.
    image[~fov] = rng.uniform(0.0, 6.0, (int((~fov).sum()), 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), label, fov


def _vessel_trees(rng, disc, disc_radius, temporal, centre, radius, scale, width_scale):
    """Centreline points (row, col, vessel width) of one or two trees leaving the disc."""
    points: list[np.ndarray] = []
    for _tree in range(rng.integers(1, 3)):
        grower = _Grower(rng, centre, radius, scale, points, int(_MAX_POINTS * scale**2))
        # Upper and lower arcades head temporally; nasal branches are optional.
        angles = [temporal - rng.uniform(0.6, 1.2), temporal + rng.uniform(0.6, 1.2)]
        for sign in (-1, 1):
            if rng.random() < 0.6:
                angles.append(temporal + np.pi + sign * rng.uniform(0.3, 1.0))
        for angle in angles:
            start = disc + rng.uniform(-0.3, 0.3, 2) * disc_radius
            # Arcades bend back towards the macula: curvature pointing to the temporal axis.
            drift = -np.sign(np.sin(angle - temporal)) * rng.uniform(0.002, 0.008)
            grower.grow(start, angle, rng.uniform(6.0, 8.0) * width_scale, drift)
    if not points:
        return np.zeros((0, 3))
    return np.concatenate(points)


class _Grower:
    """Grows one vessel tree recursively inside the FOV, appending centreline points."""

    def __init__(self, rng, centre, radius, scale, points, budget):
        self.rng, self.centre, self.radius, self.scale = rng, centre, radius, scale
        self.points, self.budget = points, budget

    def grow(self, start, angle, width, drift, depth=0):
        """One tapering, curving segment, then a continuation and a side branch."""
        rng = self.rng
        terminal = width < 1.6 or depth >= 14 or self.budget <= 0
        if terminal:
            width = 1.0
        length = rng.uniform(0.6, 1.2) * (12.0 + 5.0 * width) * self.scale
        n = max(2, int(length / _STEP))
        turns = angle + np.cumsum(drift + rng.normal(0.0, 0.06, n))
        path = start + np.cumsum(_STEP * np.stack([np.sin(turns), np.cos(turns)], 1), axis=0)
        inside = np.hypot(*(path - self.centre).T) < self.radius - 1
        leaves = not inside.all()
        if leaves:  # stop at the FOV border: no vessel is drawn outside the FOV
            stop = int(np.argmin(inside))
            path, turns = path[:stop], turns[:stop]
        if len(path) == 0:
            return
        end_width = 1.0 if terminal else max(1.0, width * rng.uniform(0.85, 0.97))
        self.points.append(np.column_stack([path, np.linspace(width, end_width, len(path))]))
        self.budget -= len(path)
        if terminal or leaves:
            return
        side = rng.choice([-1.0, 1.0])
        # Asymmetric bifurcation as in the retina: the trunk continues slightly thinner and
        # bends a little; a thinner side branch leaves at a wider angle.
        main_width = end_width * rng.uniform(0.85, 0.95)
        side_width = end_width * rng.uniform(0.4, 0.75)
        main_angle = turns[-1] - side * rng.uniform(0.05, 0.3)
        side_angle = turns[-1] + side * rng.uniform(0.6, 1.3)
        side_drift = rng.normal(0.0, 0.004)
        self.grow(path[-1], main_angle, main_width, drift, depth + 1)
        self.grow(path[-1], side_angle, side_width, side_drift, depth + 1)


def _rasterise(points: np.ndarray, shape: tuple[int, int]):
    """Label = pixels within each centreline point's radius; strength = darkening per pixel."""
    height, width = shape
    label = np.zeros(shape, bool)
    strength = np.zeros(shape, np.float32)
    if len(points) == 0:
        return label, strength
    rows = np.rint(points[:, 0]).astype(int)
    cols = np.rint(points[:, 1]).astype(int)
    # A vessel of width w covers pixels within (w - 1) / 2 of its centreline. Radii are
    # quantised to half pixels so that each radius stamps one precomputed disc of offsets.
    radii = np.round(np.maximum(points[:, 2] - 1.0, 0.0)) / 2.0
    # Wider vessels hold more blood and look darker.
    darkness = 0.55 + 0.45 * np.clip(radii / 3.0, 0.0, 1.0)
    for r in np.unique(radii):
        dy, dx = _disc_offsets(r)
        pick = radii == r
        rr = (rows[pick, None] + dy).ravel()
        cc = (cols[pick, None] + dx).ravel()
        ok = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
        label[rr[ok], cc[ok]] = True
        np.maximum.at(strength, (rr[ok], cc[ok]), np.float32(darkness[pick][0]))
    return label, strength


def _disc_offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (dy, dx) within ``radius`` of the origin."""
    k = int(np.floor(radius))
    dy, dx = np.mgrid[-k : k + 1, -k : k + 1]
    inside = dy**2 + dx**2 <= radius**2
    return dy[inside], dx[inside]


def _background(rng, yy, xx, centre, radius, disc, disc_radius, temporal):
    """Fundus background: orange-red base, vignetting, gradient, texture, disc and macula."""
    base = np.array([rng.uniform(185, 215), rng.uniform(95, 125), rng.uniform(45, 80)], np.float32)
    r = _distance(yy, xx, centre) / np.float32(radius)
    direction = rng.uniform(0, 2 * np.pi)
    dy, dx = np.float32(np.sin(direction) / radius), np.float32(np.cos(direction) / radius)
    gradient = (yy - np.float32(centre[0])) * dy + (xx - np.float32(centre[1])) * dx
    vignetting = np.float32(rng.uniform(0.15, 0.35))
    light = (1 - vignetting * r**2) * (1 + np.float32(rng.uniform(0.0, 0.2)) * gradient)
    light *= 1 + np.float32(0.04) * _texture(rng, yy.shape)
    image = light[..., None] * base

    # Macula: a darker spot about 2.5 disc diameters temporal of the disc.
    macula = disc + 5 * disc_radius * np.array([np.sin(temporal), np.cos(temporal)])
    dm = _distance(yy, xx, macula) / np.float32(2.5 * disc_radius)
    image *= (1 - np.float32(rng.uniform(0.08, 0.18)) * np.exp(-(dm**2)))[..., None]
    # Optic disc: a bright, flat-topped, yellowish spot.
    glow = np.exp(-((_distance(yy, xx, disc) / np.float32(disc_radius)) ** 4))[..., None]
    colour = np.array([rng.uniform(20, 40), rng.uniform(40, 70), rng.uniform(15, 30)], np.float32)
    image += glow * colour
    return image


def _distance(yy: np.ndarray, xx: np.ndarray, point) -> np.ndarray:
    """Euclidean distance of every pixel to ``point`` (row, col), in float32."""
    return np.hypot(yy - np.float32(point[0]), xx - np.float32(point[1]))


def _texture(rng, shape: tuple[int, int]) -> np.ndarray:
    """Smooth unit-variance mottling (choroid pattern), drawn coarse and upsampled for speed."""
    coarse = ndimage.gaussian_filter(
        rng.standard_normal((shape[0] // 8 + 2, shape[1] // 8 + 2)), 1.5
    )
    coarse /= coarse.std() + 1e-6
    fine = ndimage.zoom(coarse, 8, order=1)
    return fine[: shape[0], : shape[1]].astype(np.float32)


def _darken_vessels(rng, image, label, strength):
    """Vessels absorb mostly green light: darken green most, red and blue a little."""
    soft = ndimage.gaussian_filter(strength, sigma=0.6)  # optical blur of the vessel edges
    soft = np.maximum(soft, strength)  # keeps every label pixel at least as dark as drawn
    contrast = np.array([rng.uniform(0.04, 0.08), rng.uniform(0.22, 0.32), rng.uniform(0.06, 0.12)])
    image *= 1.0 - soft[..., None] * contrast.astype(np.float32)


def _add_lesions(rng, image, centre, radius, scale):
    """A few unlabelled blobs: bright yellow exudates and dark red haemorrhages."""
    height, width = image.shape[:2]
    for _ in range(rng.integers(0, 5)):
        angle, dist = rng.uniform(0, 2 * np.pi), radius * np.sqrt(rng.uniform(0, 0.7))
        y, x = centre + dist * np.array([np.sin(angle), np.cos(angle)])
        size = rng.uniform(1.5, 5.0) * scale
        # Only a window around the blob: the Gaussian is negligible beyond 4 sigma.
        top, left = max(0, int(y - 4 * size)), max(0, int(x - 4 * size))
        bottom, right = min(height, int(y + 4 * size) + 1), min(width, int(x + 4 * size) + 1)
        yy, xx = np.mgrid[top:bottom, left:right]
        blob = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * size**2))[..., None]
        if rng.random() < 0.5:
            colour = np.array([20.0, 35.0, 5.0])
        else:
            colour = np.array([-45.0, -35.0, -12.0])
        image[top:bottom, left:right] += (blob * colour).astype(np.float32)
