"""Mixup and CutMix on float inputs, with the soft targets they imply.

One λ ~ Beta(α, α) and one pairing (a random permutation) per batch, as in both papers. Mixup
blends whole inputs; CutMix pastes a box (images) or a time segment (series) of the paired
sample and sets λ to the exact share of the input that was kept, so the soft target
``λ·t + (1 − λ)·t[perm]`` matches what the model sees.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018; Yun et al.,
"CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
ICCV 2019.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from fivefold.techniques.augment.ops import draw_seed

__all__ = [
    "beta_sample",
    "cut_box",
    "cut_segment",
    "cutmix_images",
    "cutmix_series",
    "mix_targets",
    "mixup",
    "soft_targets",
]


def beta_sample(alpha: float, gen: torch.Generator) -> float:
    """λ ~ Beta(α, α), seeded from ``gen``."""
    rng = np.random.default_rng(draw_seed(gen))
    return float(rng.beta(alpha, alpha))


def soft_targets(y: torch.Tensor, target: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """The batch's (B, C) targets: ``target`` if given, else one-hot ``y``."""
    if target is not None:
        return target
    return F.one_hot(y, n_classes).to(torch.float32)


def mix_targets(target: torch.Tensor, perm: torch.Tensor, lam: float) -> torch.Tensor:
    """``λ·target + (1 − λ)·target[perm]``; rows still sum to 1."""
    return lam * target + (1.0 - lam) * target[perm]


def mixup(
    x: torch.Tensor,
    perm: torch.Tensor,
    lam: float,
    groups: tuple[tuple[int, ...], ...] = (),
) -> torch.Tensor:
    """``λ·x + (1 − λ)·x[perm]``; one-hot column ``groups`` come whole from the larger share."""
    out = lam * x + (1.0 - lam) * x[perm]
    if groups:
        source = x if lam >= 0.5 else x[perm]
        for group in groups:
            out[:, list(group)] = source[:, list(group)]
    return out


def cut_box(
    height: int, width: int, lam: float, gen: torch.Generator
) -> tuple[int, int, int, int, float]:
    """A box covering about (1 − λ) of the image, centred uniformly, clipped to the image.

    Returns:
        (top, left, box height, box width, exact λ = 1 − box area / image area).
    """
    cut = math.sqrt(max(0.0, 1.0 - lam))
    bh, bw = round(height * cut), round(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=gen))
    cx = int(torch.randint(0, width, (1,), generator=gen))
    top, bottom = max(cy - bh // 2, 0), min(cy + bh - bh // 2, height)
    left, right = max(cx - bw // 2, 0), min(cx + bw - bw // 2, width)
    area = (bottom - top) * (right - left)
    return top, left, bottom - top, right - left, 1.0 - area / (height * width)


def cutmix_images(
    x: torch.Tensor, perm: torch.Tensor, lam: float, gen: torch.Generator
) -> tuple[torch.Tensor, float]:
    """Paste one box of ``x[perm]`` into every image of (B, C, H, W) ``x``.

    Returns:
        the mixed images and the exact λ (share of each image kept).
    """
    top, left, bh, bw, exact = cut_box(x.shape[-2], x.shape[-1], lam, gen)
    out = x.clone()
    out[..., top : top + bh, left : left + bw] = x[perm][..., top : top + bh, left : left + bw]
    return out, exact


def cut_segment(length: int, lam: float, gen: torch.Generator) -> tuple[int, int, float]:
    """A time segment of about (1 − λ)·T steps at a uniform start.

    Returns:
        (start, segment length, exact λ = 1 − segment length / T).
    """
    size = min(round(length * (1.0 - lam)), length)
    start = int(torch.randint(0, length - size + 1, (1,), generator=gen))
    return start, size, 1.0 - size / length


def cutmix_series(
    x: torch.Tensor, perm: torch.Tensor, lam: float, gen: torch.Generator
) -> tuple[torch.Tensor, float]:
    """Paste one time segment of ``x[perm]`` into every series of (B, C, T) ``x``.

    Returns:
        the mixed series and the exact λ (share of the time steps kept).
    """
    start, size, exact = cut_segment(x.shape[-1], lam, gen)
    out = x.clone()
    out[..., start : start + size] = x[perm][..., start : start + size]
    return out, exact
