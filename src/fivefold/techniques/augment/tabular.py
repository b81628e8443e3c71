"""Tabular augmentations on (B, F) rows whose one-hot groups must stay exactly one-hot.

Numeric columns are those outside every group of ``ModalityInfo.categorical``. Noise and
dropout touch numeric columns only; SMOTE interpolates numeric columns between a minority-class
row and one of its nearest same-class training rows and takes each one-hot group from either
endpoint, so synthetic rows stay valid.

Reference: Chawla et al., "SMOTE: Synthetic Minority Over-sampling Technique", JAIR 2002.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fivefold.transforms import common
from fivefold.transforms.tabular import missing_values, numeric_columns

__all__ = ["TabularStats", "feature_dropout", "gaussian_noise", "smote"]


@dataclass(frozen=True)
class TabularStats:
    """What the tabular ops know about the training split.

    Attributes:
        numeric: (F,) bool, True for columns outside every one-hot group.
        groups: the one-hot groups (column indices).
        mean, std: (F,) per-column training mean and standard deviation.
        pool: (N, F) training rows (SMOTE neighbours), or None.
        pool_y: (N,) their labels.
        minority: (n_classes,) bool, True for classes rarer than the mean class count.
    """

    numeric: torch.Tensor
    groups: tuple[tuple[int, ...], ...]
    mean: torch.Tensor
    std: torch.Tensor
    pool: torch.Tensor | None = None
    pool_y: torch.Tensor | None = None
    minority: torch.Tensor | None = None

    @classmethod
    def of(
        cls,
        x: torch.Tensor,
        y: torch.Tensor,
        groups: tuple[tuple[int, ...], ...],
        n_classes: int,
    ) -> TabularStats:
        """Statistics of training rows ``x`` (N, F) with labels ``y`` (N,)."""
        numeric = numeric_columns(x.shape[1], groups)
        counts = torch.bincount(y[y >= 0], minlength=n_classes).float()
        minority = counts < counts.mean()
        std = x.std(dim=0, unbiased=False) if len(x) > 1 else torch.ones(x.shape[1])
        return cls(numeric, groups, x.mean(dim=0), std, x, y, minority)


def gaussian_noise(
    x: torch.Tensor, strength: float, gen: torch.Generator, stats: TabularStats
) -> torch.Tensor:
    """Add noise of ``strength`` × the column's training std to numeric columns."""
    return common.gaussian_noise(x, stats.std, gen, strength, where=stats.numeric)


def feature_dropout(
    x: torch.Tensor, strength: float, gen: torch.Generator, stats: TabularStats
) -> torch.Tensor:
    """Replace each numeric value by its column's training mean with probability ``strength``."""
    return missing_values(x, strength, gen, stats.groups, fill=stats.mean, drop_groups=False)


def smote(
    x: torch.Tensor,
    y: torch.Tensor,
    strength: float,
    prob: float,
    k: int,
    gen: torch.Generator,
    stats: TabularStats,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic minority rows: each minority-class row spawns one with probability ``prob``.

    A synthetic row is ``a + u (n − a)`` on numeric columns, with ``a`` the anchor row, ``n``
    one of its ``k`` nearest training rows of the same class and ``u ~ U(0, strength)``; each
    one-hot group is copied from ``a`` or ``n`` (``n`` with probability ``u``).

    Args:
        x: (B, F) rows.
        y: (B,) labels.
        strength: largest interpolation step (1: the whole segment, as in SMOTE).
        prob: chance that a minority row spawns a synthetic row.
        k: neighbours to choose from.
        gen: random stream.
        stats: training statistics with the neighbour pool.

    Returns:
        the new rows (S, F) and the batch rows they grew from (S,) (their labels and groups
        carry over); S may be 0.
    """
    if stats.pool is None or stats.pool_y is None or stats.minority is None:
        return x[:0], torch.zeros(0, dtype=torch.int64)
    is_minority = stats.minority[y.clamp(min=0)] & (y >= 0)
    anchors = torch.nonzero(is_minority & (torch.rand(len(y), generator=gen) < prob)).squeeze(1)
    if len(anchors) == 0:
        return x[:0], torch.zeros(0, dtype=torch.int64)
    a, label = x[anchors], y[anchors]  # (S, F), (S,)
    dist = torch.cdist(a, stats.pool.to(a.dtype))  # (S, N)
    dist = dist.masked_fill(stats.pool_y.unsqueeze(0) != label.unsqueeze(1), float("inf"))
    dist = dist.masked_fill(dist <= 1e-12, float("inf"))  # the anchor itself is no neighbour
    kk = min(k, dist.shape[1])
    near = dist.topk(kk, dim=1, largest=False)  # (S, kk)
    pick = torch.randint(0, kk, (len(anchors), 1), generator=gen)
    idx = near.indices.gather(1, pick).squeeze(1)
    found = torch.isfinite(near.values.gather(1, pick).squeeze(1))
    neighbour = torch.where(found.unsqueeze(1), stats.pool[idx].to(a.dtype), a)
    step = strength * torch.rand(len(anchors), 1, generator=gen, dtype=a.dtype)  # (S, 1)
    new = torch.where(stats.numeric, a + step * (neighbour - a), a)
    for group in stats.groups:
        cols = list(group)
        take = torch.rand(len(anchors), 1, generator=gen, dtype=a.dtype) < step
        new[:, cols] = torch.where(take, neighbour[:, cols], a[:, cols])
    return new, anchors
