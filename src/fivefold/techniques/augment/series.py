"""Batched time-series augmentations on (B, C, T) tensors.

Each op transforms the whole batch with tensor operations (no loop over samples): it draws
its random parameters and applies the shared transforms of :mod:`fivefold.transforms.series`
(time resampling by linear interpolation in :func:`resample`). Warps and crops move all
channels of a sample together, so synchronised channels stay synchronised.

Reference: Um et al., "Data Augmentation of Wearable Sensor Data for Parkinson's Disease
Monitoring using Convolutional Neural Networks", ICMI 2017 (jitter, scaling, magnitude and
time warp, permutation); Le Guennec et al., "Data Augmentation for Time Series Classification
using Convolutional Neural Networks", 2016 (window slicing).
"""

from __future__ import annotations

import torch

from fivefold.techniques.augment.ops import Op, uniform
from fivefold.transforms import common
from fivefold.transforms import series as ts
from fivefold.transforms.series import resample

__all__ = ["KNOTS", "SERIES_OPS", "resample", "smooth_curve"]

KNOTS = 4
"""Interior knots of the random smooth curves of the warps."""


def smooth_curve(
    rows: int, channels: int, length: int, std: float, gen: torch.Generator
) -> torch.Tensor:
    """Random smooth curves around 1: ``KNOTS + 2`` gaussian knots, cubic interpolation.

    Returns:
        (rows, channels, length) curves; exactly 1 everywhere when ``std`` is 0.
    """
    return ts.random_curve(rows, channels, length, KNOTS + 2, std, gen, cubic=True)


def jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Add gaussian noise of ``strength`` × each series' per-channel standard deviation."""
    scale = x.std(dim=-1, keepdim=True, unbiased=False)  # (B, C, 1)
    return common.gaussian_noise(x, strength * scale, gen)


def scaling(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Multiply each series and channel by a factor drawn from N(1, ``strength``²)."""
    factor = 1.0 + strength * torch.randn(x.shape[0], x.shape[1], 1, generator=gen)
    return common.scale(x, factor.to(x.dtype))


def magnitude_warp(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Multiply by a smooth random curve around 1 (knots with std ``strength``)."""
    b, c, t = x.shape
    return common.scale(x, smooth_curve(b, c, t, strength, gen).to(x.dtype))


def warp_positions(b: int, t: int, strength: float, gen: torch.Generator) -> torch.Tensor:
    """(B, T) monotone time positions in [0, T - 1] from a smooth random speed curve."""
    speed = smooth_curve(b, 1, t, strength, gen).squeeze(1).clamp(min=0.1)  # (B, T)
    return ts.warp_positions(speed)


def time_warp(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Resample along a smooth random speed curve (std ``strength``); 0 is the identity."""
    if x.shape[-1] < 2:
        return x.clone()
    return resample(x, warp_positions(x.shape[0], x.shape[-1], strength, gen))


def window_slice(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Crop a random window of (1 − ``strength``) × T steps and stretch it back to T."""
    b, _, t = x.shape
    width = (1.0 - min(max(strength, 0.0), 0.9)) * (t - 1)
    start = uniform((b, 1), 0.0, (t - 1) - width, gen)  # (B, 1)
    return ts.window_slice(x, start, width)


def permute(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Cut each series into ``round(strength)`` near-equal segments and shuffle them per sample."""
    b, _, t = x.shape
    k = max(1, min(round(strength), t))
    order = torch.rand(b, k, generator=gen).argsort(dim=1)  # (B, K) source segment per slot
    return ts.permute_segments(x, order)


SERIES_OPS: dict[str, Op] = {
    "jitter": jitter,
    "scaling": scaling,
    "magnitude_warp": magnitude_warp,
    "time_warp": time_warp,
    "window_slice": window_slice,
    "permute": permute,
}
