"""Time-series transforms on (N, C, T) batches: resampling at fractional times, time warps from
a speed curve, random knot curves, window slicing and segment permutation.

Warps, slices and permutations move all channels of a sample together, so synchronised
channels stay synchronised. Jitter, scaling and masking are the modality-free
:func:`~fivefold.transforms.common.gaussian_noise`, :func:`~fivefold.transforms.common.scale`
and :func:`~fivefold.transforms.common.mask_window`.

Reference: Um et al., "Data Augmentation of Wearable Sensor Data for Parkinson's Disease
Monitoring using Convolutional Neural Networks", ICMI 2017 (jitter, scaling, magnitude and
time warp, permutation); Le Guennec et al., "Data Augmentation for Time Series Classification
using Convolutional Neural Networks", 2016 (window slicing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "permute_segments",
    "random_curve",
    "resample",
    "time_warp",
    "warp_positions",
    "window_slice",
]


def resample(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linearly interpolate each series at fractional time ``positions``.

    Positions outside [0, T - 1] read the end values. At an integer position the result is
    exactly the value there (``x[..., i]``).

    Args:
        x: (N, C, T) series.
        positions: (N, T') time indices (one row per sample, shared by its channels).

    Returns:
        (N, C, T') values of ``x`` at those positions, same dtype.
    """
    n, c, t = x.shape
    if t == 1:
        return x.expand(n, c, positions.shape[-1]).clone()
    pos = positions.clamp(0, t - 1)
    left = pos.floor().long().clamp(max=t - 2)  # T - 1 reads the last pair with weight 1
    frac = (pos - left).to(x.dtype)[:, None, :]
    below = x.gather(-1, left[:, None, :].expand(n, c, -1))
    above = x.gather(-1, (left + 1)[:, None, :].expand(n, c, -1))
    # In place: each (N, C, T') temporary is a fresh allocation, slower than the arithmetic.
    return below.mul_(1 - frac).add_(above.mul_(frac))


def warp_positions(speed: torch.Tensor) -> torch.Tensor:
    """Monotone time positions from a positive local speed: its running sum, from 0 to T - 1.

    Args:
        speed: (N, T) local speeds > 0 (1 everywhere is no warp).

    Returns:
        (N, T) positions, 0 at the first step and T - 1 at the last.
    """
    t = speed.shape[-1]
    clock = torch.cumsum(speed, dim=1) - speed[:, :1]  # starts at 0, strictly increasing
    return clock / clock[:, -1:].clamp(min=1e-12) * (t - 1)  # T = 1 has a total of 0


def time_warp(x: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
    """Resample every series along the time warp of ``speed`` (ends fixed).

    Args:
        x: (N, C, T) series.
        speed: (N, T) local speeds > 0, e.g. a :func:`random_curve`; constant is the identity.

    Returns:
        (N, C, T) warped series.

    Reference: Um et al. 2017 (time warping).
    """
    return resample(x, warp_positions(speed))


def random_curve(
    rows: int,
    channels: int,
    length: int,
    knots: int,
    std: float,
    gen: torch.Generator,
    cubic: bool = False,
    floor: float | None = None,
) -> torch.Tensor:
    """Random curves around 1 through ``knots`` evenly spaced gaussian knots N(1, ``std``²).

    Args:
        rows, channels, length: the shape of the curves.
        knots: number of knots (≥ 2), at both ends and evenly in between.
        std: knot std; 0 gives exactly 1 everywhere.
        gen: the knot generator.
        cubic: bicubic interpolation between the knots (smooth), else piecewise linear.
        floor: lower limit of the knots, or None.

    Returns:
        (rows, channels, length) float32 curves.
    """
    values = 1.0 + std * torch.randn(rows, channels, knots, generator=gen)
    if floor is not None:
        values = values.clamp_min(floor)
    if not cubic:
        return F.interpolate(values, size=length, mode="linear", align_corners=True)
    curve = F.interpolate(values[:, :, None], size=(1, length), mode="bicubic", align_corners=True)
    return curve.squeeze(2)


def window_slice(x: torch.Tensor, start: torch.Tensor, width: float) -> torch.Tensor:
    """Crop the window [start, start + width] of every series and stretch it back to T steps.

    Args:
        x: (N, C, T) series.
        start: (N, 1) fractional first time of each sample's window.
        width: window length in steps (T - 1 with start 0 is the identity).

    Returns:
        (N, C, T) stretched windows.

    Reference: Le Guennec et al. 2016 (window slicing).
    """
    positions = start + torch.linspace(0.0, width, x.shape[-1]).unsqueeze(0)  # (N, T)
    return resample(x, positions)


def permute_segments(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Cut each series into K near-equal segments and put them back in ``order``.

    Args:
        x: (N, C, T) series.
        order: (N, K) a permutation of 0..K-1 per sample: the source segment of each slot
            (K ≤ T; the first T mod K segments are one step longer).

    Returns:
        (N, C, T) permuted series.

    Reference: Um et al. 2017 (permutation).
    """
    b, _, t = x.shape
    k = order.shape[1]
    lengths = torch.full((k,), t // k)
    lengths[: t % k] += 1  # (K,) segment lengths summing to T
    starts = torch.cumsum(lengths, 0) - lengths  # (K,)
    out_len = lengths[order]  # (N, K)
    out_end = torch.cumsum(out_len, dim=1)  # (N, K)
    time = torch.arange(t).repeat(b, 1)  # (N, T)
    slot = torch.searchsorted(out_end, time, right=True)  # (N, T) output segment of each step
    offset = time - (out_end - out_len).gather(1, slot)
    source = starts[order.gather(1, slot)] + offset  # (N, T)
    return x.gather(2, source.unsqueeze(1).expand_as(x))
