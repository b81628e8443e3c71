"""Shared pieces of the augmentation ops: the op table type, masking by probability, seeding.

Every op has the signature ``(x, strength, gen) -> x``: it transforms every row of the batch
``x`` it is given, draws all its randomness from ``gen`` and never writes into ``x``.
:func:`apply_with_prob` picks the rows an op touches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["Op", "apply_with_prob", "draw_seed", "forked", "uniform"]

Op = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
"""``(x (B, ...), strength, generator) -> transformed x (B, ...)``."""


def draw_seed(gen: torch.Generator) -> int:
    """A 62-bit seed drawn from ``gen`` (to seed a library that uses the global RNG)."""
    return int(torch.randint(0, 2**62, (1,), generator=gen))


def forked(
    module: Callable[[torch.Tensor], Any], x: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Run ``module(x)`` on a forked global RNG seeded from ``gen``.

    kornia draws its parameters from the global torch RNG; forking keeps the caller's global
    stream untouched and seeding from ``gen`` makes the draw reproducible.
    """
    seed = draw_seed(gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out: torch.Tensor = module(x)
    return out


def uniform(shape: tuple[int, ...], low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    """Uniform samples in [low, high) drawn from ``gen``."""
    return low + (high - low) * torch.rand(shape, generator=gen)


def apply_with_prob(
    x: torch.Tensor, op: Op, strength: float, prob: float, gen: torch.Generator
) -> torch.Tensor:
    """Apply ``op`` to each row of ``x`` independently with probability ``prob``.

    Args:
        x: (B, ...) batch.
        op: the augmentation.
        strength: the op's strength.
        prob: chance that a row is transformed.
        gen: random stream (row choice and the op's own draws).

    Returns:
        a new (B, ...) tensor; rows not chosen are copied unchanged.
    """
    rows = torch.rand(len(x), generator=gen) < prob
    if not bool(rows.any()):
        return x
    out = x.clone()
    out[rows] = op(x[rows], strength, gen).to(x.dtype)
    return out
