"""Tabular transforms on (N, F) rows whose one-hot groups must stay valid encodings.

A one-hot group is a tuple of column indices; the numeric columns are those outside every
group. Noise on numeric columns is :func:`~fivefold.transforms.common.gaussian_noise` with
``where=numeric_columns(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["Groups", "category_flip", "missing_values", "numeric_columns"]

Groups = Sequence[Sequence[int]]
"""One-hot groups: the column indices of each categorical feature."""


def numeric_columns(n_features: int, groups: Groups) -> torch.Tensor:
    """(F,) bool: True for the columns outside every one-hot group."""
    numeric = torch.ones(n_features, dtype=torch.bool)
    for group in groups:
        numeric[list(group)] = False
    return numeric


def missing_values(
    x: torch.Tensor,
    prob: float,
    gen: torch.Generator,
    groups: Groups = (),
    fill: float | torch.Tensor = 0.0,
    drop_groups: bool = True,
) -> torch.Tensor:
    """Numeric values go missing with probability ``prob`` and are imputed by ``fill``; each
    one-hot group goes missing (all zeros) with probability ``prob`` too.

    Args:
        x: (N, F) rows.
        prob: missing probability per numeric value and per row and group.
        gen: the generator (one draw per value, then one per row for each group in turn).
        groups: the one-hot groups.
        fill: the imputed value, a number or (F,) per-column values (e.g. the training means;
            0 is the mean of standardised columns).
        drop_groups: also drop whole groups; False leaves one-hot columns untouched.

    Returns:
        (N, F) rows with missing values imputed.

    Reference: Little & Rubin, "Statistical Analysis with Missing Data", 3rd ed. 2019
    (missing completely at random, mean imputation).
    """
    drop = (torch.rand(x.shape, generator=gen) < prob) & numeric_columns(x.shape[1], groups)
    out = torch.where(drop, torch.as_tensor(fill, dtype=x.dtype), x)
    if not drop_groups or not groups:
        return out
    gone = torch.zeros_like(drop)
    for group in groups:
        gone[:, list(group)] |= (torch.rand(len(x), generator=gen) < prob)[:, None]
    return out.masked_fill(gone, 0.0)


def category_flip(
    x: torch.Tensor, prob: float, gen: torch.Generator, groups: Groups
) -> torch.Tensor:
    """Per row and one-hot group, with probability ``prob`` switch to another category.

    The new category is uniform among the other ones, so rows stay exactly one-hot;
    all-zero (missing) groups stay as they are.

    Args:
        x: (N, F) rows.
        prob: flip probability per row and group.
        gen: the generator (per group: N flip draws, then N category offsets).
        groups: the one-hot groups.

    Returns:
        (N, F) rows; numeric columns unchanged.

    Reference: Zhu & Wu, "Class Noise vs. Attribute Noise: A Quantitative Study", Artificial
    Intelligence Review 2004 (attribute noise).
    """
    out = x.clone()
    for group in groups:
        cols = torch.tensor(group)
        block, k = x[:, cols], len(group)
        flip = (torch.rand(len(x), generator=gen) < prob) & (block.sum(1) > 0) & (k > 1)
        offset = torch.randint(1, max(k, 2), (len(x),), generator=gen)
        new = (block.argmax(1) + offset) % k
        onehot = F.one_hot(new, k).to(x.dtype)
        out[:, cols] = torch.where(flip[:, None], onehot, block)
    return out
