"""Combiners: how an ensemble joins its K members' (N, C) logits into (N, C) log-probabilities.

- :class:`MeanCombiner`: the (weighted) mean of the members' probabilities (deep ensembles,
  bagging, snapshots);
- :class:`VoteCombiner`: the weighted vote of multi-class SAMME (Zhu, Zou, Rosset & Hastie,
  "Multi-class AdaBoost", 2009): member k votes with the code ``+1`` for its predicted class
  and ``-1/(C-1)`` for the others, ``f_c(x) = sum_k a_k code_kc(x) / sum_k a_k``, and the
  probabilities are ``softmax(f(x) / (C - 1))`` (the paper's eq. 15, as scikit-learn's
  ``AdaBoostClassifier.predict_proba``); it is piecewise constant, so gradients go through its
  surrogate, the ``a_k``-weighted mean of the members' probabilities;
- :class:`StackingCombiner`: a multinomial logistic regression on the members' concatenated
  probabilities, fitted on out-of-fold predictions (Wolpert 1992).

Every combiner rebuilds from its ``state_dict`` alone (:func:`combiner_from_state`), so an
ensemble checkpoint holds everything needed to load it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

__all__ = [
    "COMBINERS",
    "Combiner",
    "MeanCombiner",
    "StackingCombiner",
    "VoteCombiner",
    "combiner_from_state",
    "mean_log_proba",
]


def mean_log_proba(
    logits: Sequence[torch.Tensor], weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, C) ``log sum_k w_k softmax(logits_k)`` of K (N, C) logits, computed stably.

    Args:
        logits: K tensors of (N, C) logits.
        weights: (K,) non-negative member weights summing to 1; None: equal weights 1/K.
    """
    stacked = torch.stack([torch.log_softmax(z, dim=1) for z in logits])  # (K, N, C)
    if weights is None:
        return torch.logsumexp(stacked, dim=0) - math.log(len(logits))
    log_w = torch.log(weights.to(stacked.dtype)).view(-1, 1, 1)
    return torch.logsumexp(stacked + log_w, dim=0)


class Combiner(nn.Module):
    """How an ensemble turns its K members' (N, C) logits into (N, C) log-probabilities.

    Subclasses define :meth:`forward`; ``surrogate()`` is the differentiable rule attacks and
    attributions take gradients through (the combiner itself unless its rule is piecewise
    constant, like a vote). ``note`` says what a pillar should print when the two differ.
    """

    kind: ClassVar[str] = ""
    note: str = ""
    probability_note: str = ""
    """What calibration scores should say when the probabilities are a convention of the rule
    rather than an estimate (a vote's)."""

    def forward(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """(N, C) log-probabilities of the ensemble."""
        raise NotImplementedError

    def surrogate(self) -> Combiner:
        """The differentiable rule gradients go through (``self`` for a differentiable one)."""
        return self

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Combiner:
        """The combiner whose ``state_dict()`` is ``state``."""
        raise NotImplementedError


class MeanCombiner(Combiner):
    """The (weighted) mean of the members' softmax probabilities.

    Args:
        weights: (K,) non-negative member weights (normalised here); None: equal weights.

    Raises:
        ValueError: a weight is negative or not finite, or they sum to 0.
    """

    kind: ClassVar[str] = "mean"
    weights: torch.Tensor | None

    def __init__(self, weights: Sequence[float] | torch.Tensor | None = None) -> None:
        super().__init__()
        if weights is None:
            self.weights = None
            return
        w = _check_weights(weights)
        self.register_buffer("weights", (w / w.sum()).float())

    def forward(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        return mean_log_proba(logits, self.weights)

    def extra_repr(self) -> str:
        return "equal weights" if self.weights is None else f"weights={self.weights.tolist()}"

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Combiner:
        return cls(state.get("weights"))


def _check_weights(weights: Sequence[float] | torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(weights, dtype=torch.float64).flatten()
    if w.numel() == 0 or not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"member weights must be finite and >= 0, got {w.tolist()}")
    if float(w.sum()) <= 0:
        raise ValueError(f"member weights must not all be 0, got {w.tolist()}")
    return w


class VoteCombiner(Combiner):
    """Multi-class SAMME's weighted vote, as probabilities ``softmax(f / (C - 1))``.

    Args:
        weights: (K,) member weights ``a_k = log((1 - err_k) / err_k) + log(C - 1)`` (any
            non-negative values; they are normalised inside the vote).
    """

    kind: ClassVar[str] = "vote"
    note = (
        "the ensemble votes (SAMME), a piecewise-constant rule: attacks and attributions take "
        "gradients through the weighted mean of the members' probabilities instead"
    )
    probability_note = (
        "SAMME's probabilities softmax(f / (C - 1)) (as scikit-learn's predict_proba) stay close "
        "to uniform by construction, so NLL, ECE and Brier describe that convention, not how "
        "sure the members are; compare SAMME by accuracy"
    )
    weights: torch.Tensor

    def __init__(self, weights: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        w = _check_weights(weights)
        self.register_buffer("weights", w.float())

    def forward(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        n_classes = logits[0].shape[1]
        votes = torch.stack([torch.nn.functional.one_hot(z.argmax(1), n_classes) for z in logits])
        w = (self.weights / self.weights.sum()).to(logits[0].dtype).view(-1, 1, 1)
        share = (votes.to(logits[0].dtype) * w).sum(0)  # (N, C) weighted vote share, rows sum 1
        k = max(n_classes - 1, 1)
        decision = share * (1 + 1 / k) - 1 / k  # sum_k a_k code_kc / sum_k a_k
        return torch.log_softmax(decision / k, dim=1)

    def surrogate(self) -> Combiner:
        return MeanCombiner(self.weights)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Combiner:
        return cls(state["weights"])


class StackingCombiner(Combiner):
    """A meta-learner: ``log_softmax(W [p_1; ...; p_K] + b)`` of the members' probabilities.

    Args:
        n_members: K.
        n_classes: C.
    """

    kind: ClassVar[str] = "stacking"

    def __init__(self, n_members: int, n_classes: int) -> None:
        super().__init__()
        self.meta = nn.Linear(n_members * n_classes, n_classes)

    def features(self, proba: torch.Tensor) -> torch.Tensor:
        """(N, K*C) meta-features of (K, N, C) member probabilities."""
        return proba.permute(1, 0, 2).flatten(1)

    def forward(self, logits: Sequence[torch.Tensor]) -> torch.Tensor:
        proba = torch.stack([torch.softmax(z, dim=1) for z in logits])
        return torch.log_softmax(self.meta(self.features(proba)), dim=1)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Combiner:
        n_classes, width = state["meta.weight"].shape
        combiner = cls(width // n_classes, n_classes)
        combiner.load_state_dict(state)
        return combiner


COMBINERS: dict[str, type[Combiner]] = {
    c.kind: c for c in (MeanCombiner, VoteCombiner, StackingCombiner)
}


def combiner_from_state(kind: str, state: dict[str, torch.Tensor]) -> Combiner:
    """Rebuild a combiner of ``kind`` from its ``state_dict``.

    Raises:
        ValueError: unknown kind, or a state that does not fit it.
    """
    if kind not in COMBINERS:
        raise ValueError(f"unknown combiner {kind!r}; known: {', '.join(sorted(COMBINERS))}")
    try:
        return COMBINERS[kind].from_state(state)
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"a {kind!r} combiner cannot be rebuilt from this state: {err}") from None
