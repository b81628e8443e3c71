"""Transforms of any modality: additive gaussian and poisson noise, scaling, integer shifts along
the last axis and masking of a window (a time segment, an image patch).

Every function takes a batch ``x`` of shape (N, ...) and returns a new tensor of the same shape
and dtype; the random ones draw only from the generator they are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["gaussian_noise", "mask_window", "poisson_noise", "scale", "translate_steps"]


def gaussian_noise(
    x: torch.Tensor,
    std: float | torch.Tensor,
    gen: torch.Generator,
    strength: float = 1.0,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add gaussian noise of standard deviation ``strength`` x ``std``.

    The noise is drawn in ``x``'s dtype and multiplied by ``std``, then by ``strength``, then
    by ``where``, in that order, so callers that scale in two steps keep their exact values.

    Args:
        x: (N, ...) inputs.
        std: a number or a tensor broadcastable to ``x`` (e.g. (1, C, 1) per-channel stds).
        gen: the noise generator.
        strength: a multiplier of ``std``.
        where: bool or 0/1 tensor broadcastable to ``x``: the entries that get noise (e.g. (F,)
            numeric columns), or None for all.

    Returns:
        (N, ...) noisy inputs.

    Reference: Um et al., "Data Augmentation of Wearable Sensor Data for Parkinson's Disease
    Monitoring using Convolutional Neural Networks", ICMI 2017 (jittering); Hendrycks &
    Dietterich, ICLR 2019 (gaussian noise).
    """
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype) * std
    if strength != 1.0:
        noise = noise * strength
    return x + (noise if where is None else noise * where)


def poisson_noise(x: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """Shot noise: ``Poisson(x · rate) / rate``, a photon count of ``rate`` per unit of ``x``.

    Args:
        x: (N, ...) non-negative intensities (negative values count as 0).
        rate: photons per unit; larger is less noisy.
        gen: the noise generator.

    Returns:
        (N, ...) noisy intensities, ≥ 0.

    Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
    Corruptions and Perturbations", ICLR 2019 (shot noise).
    """
    return torch.poisson(x.clamp_min(0) * rate, generator=gen) / rate


def scale(x: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Multiply ``x`` (N, ...) by ``factor``: a number or a tensor broadcastable to ``x``, e.g.
    (N, C, 1) per-series amplitudes or an (N, C, T) smooth curve.

    Reference: Um et al. 2017 (scaling, magnitude warping).
    """
    return x * factor


def translate_steps(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Shift along the last axis (image width or time) by whole ``steps``, zero fill.

    Args:
        x: (..., T) inputs.
        steps: positive moves content right / later, negative left / earlier.

    Returns:
        (..., T) shifted inputs (all zeros once ``|steps| >= T``).
    """
    out = torch.zeros_like(x)
    length = x.shape[-1]
    if steps == 0 or abs(steps) >= length:
        return x.clone() if steps == 0 else out
    if steps > 0:
        out[..., steps:] = x[..., :-steps]
    else:
        out[..., :steps] = x[..., -steps:]
    return out


def mask_window(
    x: torch.Tensor, starts: torch.Tensor, sizes: Sequence[int], value: float = 0.0
) -> torch.Tensor:
    """Set one window of the last ``len(sizes)`` axes to ``value`` in every sample, all channels.

    Args:
        x: (N, C, *S) inputs, e.g. (N, C, T) series or (N, C, H, W) images.
        starts: (N, len(sizes)) integer first index of each sample's window along each axis.
        sizes: window length along each of the last axes (the same for every sample).
        value: the fill.

    Returns:
        (N, C, *S) inputs with the windows filled; empty windows (size 0) change nothing.

    Reference: DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with
    Cutout", 2017 (image patches); Wen et al., "Time Series Data Augmentation for Deep
    Learning: A Survey", IJCAI 2021 (window masking).
    """
    axes = x.shape[x.dim() - len(sizes) :]
    inside = torch.ones((len(x),) + (1,) * len(axes), dtype=torch.bool)
    for axis, (size, length) in enumerate(zip(sizes, axes, strict=True)):
        steps = torch.arange(length)
        start = starts[:, axis : axis + 1]
        hit = (steps >= start) & (steps < start + size)  # (N, length)
        shape = [len(x)] + [1] * len(axes)
        shape[axis + 1] = length
        inside = inside & hit.view(shape)
    shape = [len(x)] + [1] * (x.dim() - 1 - len(axes)) + list(axes)
    return x.masked_fill(inside.view(shape), value)
