"""Batched time-series augmentations on (B, C, T) tensors.

Each op transforms the whole batch with tensor operations (no loop over samples); time
resampling goes through :func:`resample`, one ``grid_sample`` call for the batch. Warps and
crops move all channels of a sample together, so synchronised channels stay synchronised.

Reference: Um et al., "Data Augmentation of Wearable Sensor Data for Parkinson's Disease
Monitoring using Convolutional Neural Networks", ICMI 2017 (jitter, scaling, magnitude and
time warp, permutation); Le Guennec et al., "Data Augmentation for Time Series Classification
using Convolutional Neural Networks", 2016 (window slicing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fivefold.techniques.augment.ops import Op, uniform

__all__ = ["KNOTS", "SERIES_OPS", "resample", "smooth_curve"]

KNOTS = 4
"""Interior knots of the random smooth curves of the warps."""


def resample(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linearly interpolate each series at fractional time ``positions``.

    Args:
        x: (B, C, T) series.
        positions: (B, T') time indices in [0, T - 1] (one row per sample).

    Returns:
        (B, C, T') values of ``x`` at those positions.
    """
    length = x.shape[-1]
    coord = positions / max(length - 1, 1) * 2.0 - 1.0  # (B, T') in [-1, 1]
    grid = torch.stack([coord, torch.zeros_like(coord)], dim=-1).unsqueeze(1)  # (B, 1, T', 2)
    out = F.grid_sample(
        x.unsqueeze(2), grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )  # (B, C, 1, T')
    return out.squeeze(2)


def smooth_curve(
    rows: int, channels: int, length: int, std: float, gen: torch.Generator
) -> torch.Tensor:
    """Random smooth curves around 1: ``KNOTS + 2`` gaussian knots, cubic interpolation.

    Returns:
        (rows, channels, length) curves; exactly 1 everywhere when ``std`` is 0.
    """
    knots = 1.0 + std * torch.randn(rows, channels, 1, KNOTS + 2, generator=gen)
    curve = F.interpolate(knots, size=(1, length), mode="bicubic", align_corners=True)
    return curve.squeeze(2)  # (rows, channels, length)


def jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Add gaussian noise of ``strength`` × each series' per-channel standard deviation."""
    scale = x.std(dim=-1, keepdim=True, unbiased=False)  # (B, C, 1)
    return x + strength * scale * torch.randn(x.shape, generator=gen, dtype=x.dtype)


def scaling(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Multiply each series and channel by a factor drawn from N(1, ``strength``²)."""
    factor = 1.0 + strength * torch.randn(x.shape[0], x.shape[1], 1, generator=gen)
    return x * factor.to(x.dtype)


def magnitude_warp(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Multiply by a smooth random curve around 1 (knots with std ``strength``)."""
    b, c, t = x.shape
    return x * smooth_curve(b, c, t, strength, gen).to(x.dtype)


def warp_positions(b: int, t: int, strength: float, gen: torch.Generator) -> torch.Tensor:
    """(B, T) monotone time positions in [0, T - 1] from a smooth random speed curve."""
    speed = smooth_curve(b, 1, t, strength, gen).squeeze(1).clamp(min=0.1)  # (B, T)
    clock = torch.cumsum(speed, dim=1) - speed[:, :1]  # starts at 0, strictly increasing
    return clock / clock[:, -1:].clamp(min=1e-12) * (t - 1)


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
    positions = start + torch.linspace(0.0, width, t).unsqueeze(0)  # (B, T)
    return resample(x, positions)


def permute(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Cut each series into ``round(strength)`` near-equal segments and shuffle them per sample."""
    b, _, t = x.shape
    k = max(1, min(round(strength), t))
    lengths = torch.full((k,), t // k)
    lengths[: t % k] += 1  # (K,) segment lengths summing to T
    starts = torch.cumsum(lengths, 0) - lengths  # (K,)
    order = torch.rand(b, k, generator=gen).argsort(dim=1)  # (B, K) source segment per slot
    out_len = lengths[order]  # (B, K)
    out_end = torch.cumsum(out_len, dim=1)  # (B, K)
    time = torch.arange(t).repeat(b, 1)  # (B, T)
    slot = torch.searchsorted(out_end, time, right=True)  # (B, T) output segment of each step
    offset = time - (out_end - out_len).gather(1, slot)
    source = starts[order.gather(1, slot)] + offset  # (B, T)
    return x.gather(2, source.unsqueeze(1).expand_as(x))


SERIES_OPS: dict[str, Op] = {
    "jitter": jitter,
    "scaling": scaling,
    "magnitude_warp": magnitude_warp,
    "time_warp": time_warp,
    "window_slice": window_slice,
    "permute": permute,
}
