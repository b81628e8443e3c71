"""Batched image augmentations on (B, C, H, W) tensors scaled to [0, 1], mostly with kornia.

Geometric ops fill uncovered pixels with 0, the low end of the range (the background of digit
and clothing images). Strengths are in units of the [0, 1] range, degrees or size fractions,
as each op's docstring says. :func:`randaugment` applies N ops per sample at one magnitude.
Flips and contrast are the shared transforms of :mod:`fivefold.transforms.image`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from fivefold.techniques.augment.ops import Op, apply_with_prob, forked, uniform
from fivefold.transforms import image as transform

__all__ = ["IMAGE_OPS", "RANDAUGMENT_MAX", "augment_images", "randaugment"]


def _kornia() -> Any:
    """``kornia.augmentation``, imported on first use (it is slow to import and only image
    augmentation needs it)."""
    import kornia.augmentation

    return kornia.augmentation


def translate(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Shift by up to ``strength`` × width (height) pixels in each direction."""
    return forked(
        _kornia().RandomAffine(degrees=0.0, translate=(strength, strength), p=1.0), x, gen
    )


def rotate(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Rotate by an angle uniform in ±``strength`` degrees."""
    return forked(_kornia().RandomAffine(degrees=strength, p=1.0), x, gen)


def affine(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Scale by a factor in 1 ± ``strength`` and shear by up to ``strength`` × 45 degrees."""
    scale = (max(1.0 - strength, 0.05), 1.0 + strength)
    shear = strength * 45.0
    return forked(_kornia().RandomAffine(degrees=0.0, scale=scale, shear=shear, p=1.0), x, gen)


def hflip(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror left-right (``strength`` unused)."""
    return transform.hflip(x)


def vflip(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror top-bottom (``strength`` unused)."""
    return transform.vflip(x)


def brightness(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Add a level uniform in ±``strength`` (ColorJitter brightness, additive)."""
    module = _kornia().RandomBrightness((1.0 - strength, 1.0 + strength), clip_output=False, p=1.0)
    return forked(module, x, gen)


def contrast(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Scale each image's deviation from its mean by a factor in 1 ± ``strength``."""
    factor = uniform((len(x), 1, 1, 1), max(1.0 - strength, 0.0), 1.0 + strength, gen)
    return transform.contrast(x, factor, per_channel=False)


def pixel_noise(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Add gaussian noise of standard deviation ``strength``."""
    return forked(_kornia().RandomGaussianNoise(std=strength, p=1.0), x, gen)


def erase(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Blank a random rectangle covering 2 % to ``strength`` of the image (random erasing)."""
    top = max(strength, 0.021)
    return forked(_kornia().RandomErasing(scale=(0.02, top), value=0.0, p=1.0), x, gen)


def blur(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Gaussian blur with sigma uniform in [0.1, ``strength``] pixels."""
    sigma = max(strength, 0.11)
    size = min(2 * math.ceil(2 * sigma) + 1, (min(x.shape[-2:]) - 1) // 2 * 2 + 1)
    if size < 3:
        return x.clone()
    return forked(_kornia().RandomGaussianBlur(size, (0.1, sigma), p=1.0), x, gen)


IMAGE_OPS: dict[str, Op] = {
    "translate": translate,
    "rotate": rotate,
    "affine": affine,
    "hflip": hflip,
    "vflip": vflip,
    "brightness": brightness,
    "contrast": contrast,
    "pixel_noise": pixel_noise,
    "erase": erase,
    "blur": blur,
}

RANDAUGMENT_MAX: dict[str, float] = {
    "translate": 0.3,
    "rotate": 30.0,
    "affine": 0.3,
    "hflip": 0.0,
    "vflip": 0.0,
    "brightness": 0.5,
    "contrast": 0.8,
    "pixel_noise": 0.2,
    "erase": 0.4,
    "blur": 1.5,
}
"""Strength of each op at RandAugment magnitude 10 (magnitude m uses m / 10 of it)."""


def randaugment(
    x: torch.Tensor, ops: tuple[str, ...], n: int, magnitude: float, gen: torch.Generator
) -> torch.Tensor:
    """Apply ``n`` distinct ops drawn per sample from ``ops``, each at one shared magnitude.

    Args:
        x: (B, C, H, W) images in [0, 1].
        ops: names of :data:`IMAGE_OPS` to draw from.
        n: ops per sample (capped at ``len(ops)``).
        magnitude: 0..10; an op's strength is ``RANDAUGMENT_MAX[op] * magnitude / 10``.
        gen: random stream.

    Returns:
        (B, C, H, W) augmented images (not clamped).
    """
    scores = torch.rand(len(x), len(ops), generator=gen)  # (B, K)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    chosen = ranks < min(n, len(ops))  # (B, K): n random ops per row
    out = x
    for k, name in enumerate(ops):
        rows = chosen[:, k]
        if bool(rows.any()):
            out = out.clone()
            strength = RANDAUGMENT_MAX[name] * magnitude / 10.0
            out[rows] = IMAGE_OPS[name](out[rows], strength, gen)
    return out


def to_unit(
    x: torch.Tensor, bounds: tuple[float, float] | None
) -> tuple[torch.Tensor, float, float]:
    """``x`` mapped to [0, 1] by ``bounds`` (or by the batch's range when unbounded)."""
    low, high = bounds if bounds is not None else (float(x.min()), float(x.max()))
    span = high - low if high > low else 1.0
    return (x - low) / span, low, span


def augment_images(
    x: torch.Tensor,
    steps: list[tuple[str, float, float]],
    bounds: tuple[float, float] | None,
    gen: torch.Generator,
    rand_n: int = 0,
    rand_m: float = 0.0,
) -> torch.Tensor:
    """Run the image policy on (B, C, H, W) images and map them back to their range.

    Args:
        x: (B, C, H, W) float images.
        steps: (op name, strength, probability) in order (per-op policy).
        bounds: the valid range (the result is clamped to it), or None.
        gen: random stream.
        rand_n: if > 0, RandAugment over the ops of ``steps`` instead of the per-op policy.
        rand_m: RandAugment magnitude 0..10.

    Returns:
        (B, C, H, W) augmented images, same dtype.
    """
    unit, low, span = to_unit(x, bounds)
    if rand_n > 0:
        unit = randaugment(unit, tuple(s[0] for s in steps), rand_n, rand_m, gen)
    else:
        for name, strength, prob in steps:
            unit = apply_with_prob(unit, IMAGE_OPS[name], strength, prob, gen)
    out = unit * span + low
    if bounds is not None:
        out = out.clamp(bounds[0], bounds[1])
    return out.to(x.dtype)
