"""Image transforms on (N, C, H, W) batches: rotation and translation, flips, contrast,
brightness, gaussian blur and pixelation.

Geometric transforms sample bilinearly and fill uncovered pixels with 0; none of them draws
random numbers (callers draw angles, shifts and factors and pass them in).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "affine",
    "brightness",
    "contrast",
    "gaussian_blur",
    "hflip",
    "pixelate",
    "vflip",
]


def _theta(
    cos: torch.Tensor, sin: torch.Tensor, h: int, w: int, shift: torch.Tensor | None
) -> torch.Tensor:
    """(N, 2, 3) ``affine_grid`` matrices from (N,) cosines and sines, in their dtype.

    The grid maps output to input coordinates normalised to [-1, 1] per axis, so the rotation
    is corrected by the aspect ratio (it turns the pixel grid, not the unit square) and a shift
    by a fraction ``s`` of the size moves the content by ``2 s`` normalised units.
    """
    if shift is None:
        tx = ty = torch.zeros_like(cos)
    else:
        tx, ty = -2 * shift[:, 0].to(cos.dtype), -2 * shift[:, 1].to(cos.dtype)
    return torch.stack([cos, -sin * h / w, tx, sin * w / h, cos, ty], dim=1).view(-1, 2, 3)


def affine(
    x: torch.Tensor, degrees: float | torch.Tensor, shift: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate counter-clockwise (as displayed) about the centre, then translate; zero fill.

    A float angle is shared by the batch and its cosine and sine are computed in float64 and
    rounded to 12 digits, so at multiples of 90° the matrix is an exact quarter turn and the
    result is ``torch.rot90`` up to the float rounding of the sampling grid (bit for bit on
    small power-of-two sizes). A tensor holds one angle per image and its trigonometry runs in
    ``x``'s dtype.

    Args:
        x: (N, C, H, W) images.
        degrees: the angle, or (N,) angles.
        shift: (N, 2) translations in fractions of the width and height (positive: right and
            down), or None.

    Returns:
        (N, C, H, W) transformed images (bilinear interpolation).

    Reference: Mu & Gilmer, "MNIST-C: A Robustness Benchmark for Computer Vision", 2019
    (rotation and translation).
    """
    n, c, h, w = x.shape
    if isinstance(degrees, torch.Tensor):
        rad = torch.deg2rad(degrees.to(x.dtype))
        cos, sin = torch.cos(rad), torch.sin(rad)
    else:
        rad_ = math.radians(degrees)
        cos = torch.tensor([round(math.cos(rad_), 12)], dtype=torch.float64)
        sin = torch.tensor([round(math.sin(rad_), 12)], dtype=torch.float64)
        if shift is not None:  # one matrix per image; without a shift one serves the batch
            cos, sin = cos.expand(n), sin.expand(n)
    theta = _theta(cos, sin, h, w, shift).to(x.dtype).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror (N, C, H, W) images left-right."""
    return torch.flip(x, dims=(-1,))


def vflip(x: torch.Tensor) -> torch.Tensor:
    """Mirror (N, C, H, W) images top-bottom."""
    return torch.flip(x, dims=(-2,))


def contrast(
    x: torch.Tensor, factor: float | torch.Tensor, per_channel: bool = True
) -> torch.Tensor:
    """Scale each image's deviation from its mean by ``factor`` (< 1 flattens, 1 is identity).

    Args:
        x: (N, C, H, W) images.
        factor: a number or (N, 1, 1, 1) factors.
        per_channel: shrink towards each channel's mean, else towards the whole image's mean.

    Returns:
        (N, C, H, W) images.

    Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
    Corruptions and Perturbations", ICLR 2019 (contrast).
    """
    mean = x.mean(dim=(2, 3) if per_channel else (1, 2, 3), keepdim=True)
    return (x - mean) * factor + mean


def brightness(x: torch.Tensor, level: float | torch.Tensor) -> torch.Tensor:
    """Add ``level`` (a number or (N, 1, 1, 1) levels) to every pixel of (N, C, H, W) images.

    Reference: Hendrycks & Dietterich 2019 (brightness, the V of HSV for grey images).
    """
    return x + level


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur with std ``sigma`` pixels (radius 3 sigma), edge padding.

    Args:
        x: (N, C, H, W) images.
        sigma: kernel std in pixels, > 0.

    Returns:
        (N, C, H, W) blurred images.

    Reference: Hendrycks & Dietterich 2019 (gaussian blur).
    """
    radius = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = (taps / taps.sum()).to(x.dtype)
    c = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _reduced(size: int, factor: float) -> int:
    """``factor`` x ``size`` pixels, at least 1 and, where possible, fewer than ``size``."""
    return max(1, min(size - 1, round(factor * size)))


def pixelate(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Downsample to ``factor`` x the size (antialiased), then nearest-upsample back.

    On tiny images a plain box filter aliases (an 8x8 digit pixelated to 5x5 reads worse than
    at 4x4), so the downsampling is antialiased and the upsampling centred.

    Args:
        x: (N, C, H, W) images.
        factor: resolution factor in (0, 1).

    Returns:
        (N, C, H, W) pixelated images.

    Reference: Hendrycks & Dietterich 2019 (pixelate).
    """
    h, w = x.shape[-2:]
    small_size = (_reduced(h, factor), _reduced(w, factor))
    small = F.interpolate(x, size=small_size, mode="bilinear", antialias=True)
    return F.interpolate(small, size=(h, w), mode="nearest-exact")
