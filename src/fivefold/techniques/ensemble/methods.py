"""The pure parts of the ensemble methods: SAMME's weight update, stacking's folds and its
meta-learner, bootstrap rows. They take tensors and callables, not fit contexts, so tests can
check them against hand-computed cases and independent implementations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fivefold.training.combiners import StackingCombiner

__all__ = [
    "SammeStep",
    "bootstrap_rows",
    "fit_meta_learner",
    "fold_rows",
    "out_of_fold",
    "samme_step",
]


def bootstrap_rows(n: int, share: float, gen: torch.Generator) -> torch.Tensor:
    """(round(share * n),) row indices drawn uniformly with replacement."""
    return torch.randint(n, (max(1, round(share * n)),), generator=gen)


@dataclass(frozen=True)
class SammeStep:
    """One boosting round of multi-class SAMME.

    Attributes:
        error: the member's weighted training error ``sum_i w_i [h(x_i) != y_i] / sum_i w_i``.
        weight: its vote weight ``log((1 - err) / err) + log(K - 1)`` (1.0 when err = 0).
        sample_weights: (N,) the next round's weights, normalised to sum to 1.
        keep: whether the member joins the ensemble.
        stop: why boosting stops after this round ("" to go on).
    """

    error: float
    weight: float
    sample_weights: torch.Tensor
    keep: bool
    stop: str


def samme_step(
    sample_weights: torch.Tensor, miss: torch.Tensor, n_classes: int, first: bool
) -> SammeStep:
    """SAMME's update after a member misclassified ``miss`` (Zhu et al. 2009, Algorithm 2).

    Follows the paper with scikit-learn's edge cases: a perfect member gets weight 1 and ends
    boosting; a member no better than chance (err >= 1 - 1/K) is dropped and ends boosting,
    unless it is the first (kept with weight 1, so there is an ensemble at all).

    Args:
        sample_weights: (N,) current non-negative weights.
        miss: (N,) bool, the member's training errors.
        n_classes: K.
        first: whether this is the first member.
    """
    w = sample_weights.double()
    err = float((w * miss.double()).sum() / w.sum())
    if err <= 0:
        return SammeStep(err, 1.0, w / w.sum(), True, "a member made no training error")
    if err >= 1 - 1 / n_classes:
        why = f"a member's weighted error {err:.3f} is no better than chance (1 - 1/K)"
        return SammeStep(err, 1.0, w / w.sum(), first, why)
    alpha = math.log((1 - err) / err) + math.log(n_classes - 1)
    new = w * torch.exp(alpha * miss.double() * (w > 0))
    return SammeStep(err, alpha, new / new.sum(), True, "")


def fold_rows(y: torch.Tensor, folds: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Stratified folds: each class's rows shuffled and dealt round-robin into ``folds`` parts.

    Returns:
        ``folds`` sorted 1-D index tensors that partition ``range(len(y))``.
    """
    assignment = torch.empty(len(y), dtype=torch.long)
    offset = 0
    for c in torch.unique(y).tolist():
        rows = torch.nonzero(y == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        assignment[rows] = (torch.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return [torch.nonzero(assignment == f).flatten() for f in range(folds)]


def out_of_fold(
    train_fold: Callable[[int, torch.Tensor], Sequence[Callable[[torch.Tensor], torch.Tensor]]],
    n: int,
    folds: Sequence[torch.Tensor],
    n_members: int,
    n_classes: int,
) -> torch.Tensor:
    """(K, N, C) out-of-fold member probabilities.

    Args:
        train_fold: ``(fold, train_rows) -> K predictors``, each mapping held-out row indices
            to (n, C) probabilities; it is given every row except the fold's.
        n: number of rows.
        folds: a partition of ``range(n)``.
        n_members: K.
        n_classes: C.
    """
    proba = torch.full((n_members, n, n_classes), float("nan"))
    every = torch.arange(n)
    for f, held in enumerate(folds):
        keep = torch.ones(n, dtype=torch.bool)
        keep[held] = False
        predictors = train_fold(f, every[keep])
        for k, predict in enumerate(predictors):
            proba[k, held] = predict(held)
    if bool(torch.isnan(proba).any()):
        raise ValueError("the folds do not cover every row")
    return proba


def fit_meta_learner(
    proba: torch.Tensor, y: torch.Tensor, l2: float, max_iter: int = 200
) -> StackingCombiner:
    """A multinomial logistic regression on (K, N, C) member probabilities, by L-BFGS.

    The objective is mean cross-entropy + ``l2 * ||W||^2`` (bias unpenalised), convex, so the
    optimum does not depend on the start; it starts from the equal-weight average's logits.
    """
    k, _, c = proba.shape
    combiner = StackingCombiner(k, c)
    features = combiner.features(proba.float())
    with torch.no_grad():
        combiner.meta.weight.copy_(torch.eye(c).repeat(1, k) / k)
        combiner.meta.bias.zero_()
    optimizer = torch.optim.LBFGS(
        combiner.meta.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(combiner.meta(features), y) + l2 * combiner.meta.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return combiner
