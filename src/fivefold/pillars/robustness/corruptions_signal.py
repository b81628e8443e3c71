"""Natural corruptions of time series (N, C, T) and standardised tabular rows (N, F).

Plain functions ``(x, parameter, gen, info) -> x``; :mod:`fivefold.pillars.robustness.corruptions`
registers them with their severity parameters and adds the shared contract (severity 0 is the
identity, bounds and dtype kept).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fivefold.data.task import ModalityInfo

__all__ = [
    "baseline_drift",
    "category_flip",
    "masking",
    "missing_values",
    "scaling",
    "series_gaussian_noise",
    "tabular_gaussian_noise",
    "time_warp",
]

# ------------------------------------------------------------------- time series (N, C, T)


def _series_std(x: torch.Tensor) -> torch.Tensor:
    """(N, C, 1) std of every series over time (1 where a series is constant or too short)."""
    if x.shape[-1] < 2:
        return torch.ones_like(x[..., :1])
    std = x.std(dim=-1, keepdim=True)
    return torch.where(std > 0, std, torch.ones_like(std))


def series_gaussian_noise(
    x: torch.Tensor, fraction: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Gaussian noise with std ``fraction`` x each series' own std.

    Reference: Um et al., "Data Augmentation of Wearable Sensor Data for Parkinson's Disease
    Monitoring using Convolutional Neural Networks", ICMI 2017 (jittering).
    """
    return x + fraction * _series_std(x) * torch.randn(x.shape, generator=gen)


def scaling(x: torch.Tensor, amount: float, gen: torch.Generator, _: ModalityInfo) -> torch.Tensor:
    """Multiply each series (sample x channel) by 1 + ``amount`` or 1 - ``amount``.

    Reference: Um et al. 2017 (magnitude scaling).
    """
    sign = torch.randint(0, 2, (*x.shape[:-1], 1), generator=gen).float() * 2 - 1
    return x * (1 + amount * sign)


def time_warp(x: torch.Tensor, std: float, gen: torch.Generator, _: ModalityInfo) -> torch.Tensor:
    """Resample every series along a smooth random monotone time warp (ends fixed).

    The local speed is a piecewise-linear interpolation of 6 knots drawn from N(1, std²)
    (floored at 0.1); its cumulative sum maps output steps to input positions.

    Reference: Um et al. 2017 (time warping).
    """
    n, _c, t = x.shape
    if t < 2:
        return x.clone()
    knots = (1 + std * torch.randn(n, 1, 6, generator=gen)).clamp_min(0.1)
    speed = F.interpolate(knots, size=t, mode="linear", align_corners=True)[:, 0]  # (N, T)
    pos = torch.cumsum(speed, dim=1) - speed[:, :1]
    pos = pos / pos[:, -1:] * (t - 1)  # monotone, from 0 to T - 1
    left = pos.floor().long().clamp(0, t - 2)
    frac = (pos - left)[:, None, :]
    index = left[:, None, :].expand_as(x)
    return x.gather(-1, index) * (1 - frac) + x.gather(-1, index + 1) * frac


def masking(
    x: torch.Tensor, fraction: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Zero one random segment of ``fraction`` x T steps in every sample (all channels).

    Reference: Wen et al., "Time Series Data Augmentation for Deep Learning: A Survey",
    IJCAI 2021 (window masking / cropping).
    """
    n, t = len(x), x.shape[-1]
    length = max(1, round(fraction * t))
    start = torch.randint(0, t - length + 1, (n, 1), generator=gen)
    steps = torch.arange(t)
    segment = (steps >= start) & (steps < start + length)  # (N, T)
    return x.masked_fill(segment[:, None, :], 0.0)


def baseline_drift(
    x: torch.Tensor, amplitude: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Add a random linear trend plus a slow sinusoid, scaled by ``amplitude`` x series std.

    Per series: ``A·(a·(2τ - 1) + b·sin(2π f τ + φ))`` with τ ∈ [0, 1], a, b ~ U(-1, 1),
    f ~ U(0.5, 1.5) periods per series and φ ~ U(0, 2π).

    Reference: Wen et al. 2021 (trend / low-frequency perturbations).
    """
    shape = (*x.shape[:-1], 1)
    a, b = (torch.rand(shape, generator=gen) * 2 - 1 for _ in range(2))
    freq = 0.5 + torch.rand(shape, generator=gen)
    phase = torch.rand(shape, generator=gen) * 2 * math.pi
    tau = torch.linspace(0.0, 1.0, x.shape[-1])
    drift = a * (2 * tau - 1) + b * torch.sin(2 * math.pi * freq * tau + phase)
    return x + amplitude * _series_std(x) * drift


# ------------------------------------------------------------- tabular (N, F), standardised


def _numeric_columns(info: ModalityInfo, n_features: int) -> torch.Tensor:
    """(F,) bool: True for numeric (not one-hot) columns."""
    numeric = torch.ones(n_features, dtype=torch.bool)
    for group in info.categorical:
        numeric[list(group)] = False
    return numeric


def tabular_gaussian_noise(
    x: torch.Tensor, std: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Gaussian noise of std ``std`` (standardised units) on numeric columns only.

    Reference: Zhu & Wu, "Class Noise vs. Attribute Noise: A Quantitative Study", 2004.
    """
    noise = std * torch.randn(x.shape, generator=gen)
    return x + noise * _numeric_columns(info, x.shape[1])


def category_flip(
    x: torch.Tensor, prob: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Per row and one-hot group, with probability ``prob`` switch to another category.

    The new category is uniform among the other ones, so rows stay exactly one-hot;
    all-zero (missing) groups stay as they are.

    Reference: Zhu & Wu 2004 (attribute noise).
    """
    out = x.clone()
    for group in info.categorical:
        cols = torch.tensor(group)
        block, k = x[:, cols], len(group)
        flip = (torch.rand(len(x), generator=gen) < prob) & (block.sum(1) > 0) & (k > 1)
        offset = torch.randint(1, max(k, 2), (len(x),), generator=gen)
        new = (block.argmax(1) + offset) % k
        onehot = F.one_hot(new, k).to(x.dtype)
        out[:, cols] = torch.where(flip[:, None], onehot, block)
    return out


def missing_values(
    x: torch.Tensor, prob: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Each numeric value is missing with probability ``prob`` and imputed by the training
    mean (0 after standardisation); each one-hot group is missing (all zeros) with ``prob``.

    Reference: Little & Rubin, "Statistical Analysis with Missing Data", 3rd ed. 2019
    (missing completely at random, mean imputation).
    """
    numeric = _numeric_columns(info, x.shape[1])
    drop = (torch.rand(x.shape, generator=gen) < prob) & numeric
    for group in info.categorical:
        gone = torch.rand(len(x), generator=gen) < prob
        drop[:, list(group)] |= gone[:, None]
    return x.masked_fill(drop, 0.0)
