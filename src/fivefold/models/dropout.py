"""Dropout whose mask costs a quarter of a random draw per entry.

On a CPU, torch's ``nn.Dropout`` draws one Bernoulli number per activation from the Mersenne
twister, about 6 ns each: for a small MLP that is a fifth of a training step, and it does not
shrink when members train together (each member must draw its own mask). :class:`Dropout`
takes its mask from 16-bit random integers instead, four per 64-bit draw: entry ``i`` is kept
when code ``i`` is below ``round(keep * 65536) - 32768`` and kept entries are scaled by
``1 / keep_q`` with ``keep_q = round(keep * 65536) / 65536``, so the drop probability is
``p`` to within 1/65536 and the expected output equals the input exactly. The draws come
from the global random stream, or from a ``torch.Generator`` (:func:`dropout_mask`), which is
how stacked members reproduce the mask each would draw alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CODES", "Dropout", "dropout_mask", "dropout_masks"]

CODES = 65536
"""Number of 16-bit codes: the resolution of the keep probability."""


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    generator: torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor | None:
    """The scaled keep mask (``0`` or ``1 / keep_q``) of a dropout with probability ``p``.

    Args:
        shape: the activation's shape.
        p: drop probability in [0, 1].
        generator: the random stream (None: torch's global one).
        dtype: the mask's dtype (the activation's).
        device: where to draw.

    Returns:
        the mask, or None when ``p`` rounds to 0 (nothing is dropped).
    """
    masks = dropout_masks(shape, p, [generator], dtype=dtype, device=device)
    return None if masks is None else masks[0]


def dropout_masks(
    shape: torch.Size | tuple[int, ...],
    p: float,
    generators: Sequence[torch.Generator | None],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor | None:
    """(K, *shape) masks of K activations, mask k drawn from ``generators[k]`` exactly as
    :func:`dropout_mask` draws it alone (K draws, then one comparison for all); None when
    ``p`` rounds to 0."""
    kept = round((1.0 - p) * CODES)
    if kept >= CODES:
        return None
    n = math.prod(int(d) for d in shape)
    words = torch.empty((len(generators), (n + 3) // 4), dtype=torch.int64, device=device)
    for row, generator in zip(words, generators, strict=True):
        row.random_(-(2**63), None, generator=generator)  # 64 uniform bits per word
    codes = words.view(torch.int16)[:, :n].reshape(len(generators), *shape)
    return (codes < kept - CODES // 2).to(dtype) * (CODES / kept if kept else 0.0)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same options and expected output; never in place) with the cheaper
    mask of :func:`dropout_mask`, drawn from the global random stream."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = dropout_mask(x.shape, self.p, dtype=x.dtype, device=x.device)
        return x if mask is None else x * mask
