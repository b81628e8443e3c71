"""Natural corruptions of time series (N, C, T) and standardised tabular rows (N, F).

Plain functions ``(x, parameter, gen, info) -> x``; :mod:`fivefold.pillars.robustness.corruptions`
registers them with their severity parameters and adds the shared contract (severity 0 is the
identity, bounds and dtype kept). They draw their random parameters and apply the shared
transforms of :mod:`fivefold.transforms`.
"""

from __future__ import annotations

import math

import torch

from fivefold.data.task import ModalityInfo
from fivefold.transforms import common, series, tabular

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
    return common.gaussian_noise(x, fraction * _series_std(x), gen)


def scaling(x: torch.Tensor, amount: float, gen: torch.Generator, _: ModalityInfo) -> torch.Tensor:
    """Multiply each series (sample x channel) by 1 + ``amount`` or 1 - ``amount``.

    Reference: Um et al. 2017 (magnitude scaling).
    """
    sign = torch.randint(0, 2, (*x.shape[:-1], 1), generator=gen).float() * 2 - 1
    return common.scale(x, 1 + amount * sign)


def time_warp(x: torch.Tensor, std: float, gen: torch.Generator, _: ModalityInfo) -> torch.Tensor:
    """Resample every series along a smooth random monotone time warp (ends fixed).

    The local speed is a piecewise-linear interpolation of 6 knots drawn from N(1, std²)
    (floored at 0.1); its cumulative sum maps output steps to input positions.

    Reference: Um et al. 2017 (time warping).
    """
    n, _c, t = x.shape
    if t < 2:
        return x.clone()
    speed = series.random_curve(n, 1, t, 6, std, gen, floor=0.1)[:, 0]  # (N, T)
    return series.time_warp(x, speed)


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
    return common.mask_window(x, start, (length,))


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


def tabular_gaussian_noise(
    x: torch.Tensor, std: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Gaussian noise of std ``std`` (standardised units) on numeric columns only.

    Reference: Zhu & Wu, "Class Noise vs. Attribute Noise: A Quantitative Study", 2004.
    """
    numeric = tabular.numeric_columns(x.shape[1], info.categorical)
    return common.gaussian_noise(x, std, gen, where=numeric)


def category_flip(
    x: torch.Tensor, prob: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Per row and one-hot group, with probability ``prob`` switch to another category.

    The new category is uniform among the other ones, so rows stay exactly one-hot;
    all-zero (missing) groups stay as they are.

    Reference: Zhu & Wu 2004 (attribute noise).
    """
    return tabular.category_flip(x, prob, gen, info.categorical)


def missing_values(
    x: torch.Tensor, prob: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Each numeric value is missing with probability ``prob`` and imputed by the training
    mean (0 after standardisation); each one-hot group is missing (all zeros) with ``prob``.

    Reference: Little & Rubin, "Statistical Analysis with Missing Data", 3rd ed. 2019
    (missing completely at random, mean imputation).
    """
    return tabular.missing_values(x, prob, gen, info.categorical)
