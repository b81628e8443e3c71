"""The Subject: a trained model under evaluation, the only way a pillar reaches a model.

A subject is one model, or several members whose outputs a :class:`Combiner` joins (an
ensemble: by default the mean of their class probabilities; a weighted mean, a weighted vote
or a learned meta-learner for boosting and stacking). ``predict_proba`` is primary; ``logits``
exist for a single model only (combined probabilities have no logits of their own);
``member_proba`` gives each member's probabilities (disagreement scores). ``differentiable()``
is the module that attacks and attributions take gradients through: the model itself for one
member, so every single-model number is what it was, and the combiner's log-probabilities
(e.g. ``log mean_k softmax(member_k(x))``) for several. Softmax of that gives the combined
probabilities back, and cross-entropy and DLR are invariant to the log-softmax shift, so
attacks on it attack the ensemble's prediction.

A model that changes while it is evaluated (test-time adaptation) overrides ``adapt`` and
``reset`` in a subclass, or passes them as callables. Every adaptation and reset bumps a version
that is part of the output memo's key, so an adapting subject is never served outputs computed
before it changed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from fivefold.data.task import Inputs
from fivefold.training.combiners import Combiner, MeanCombiner, mean_log_proba
from fivefold.training.predict import predict_logits

__all__ = [
    "MEMO_SIZE",
    "Combiner",
    "Ensemble",
    "MeanCombiner",
    "MeanProbability",
    "Refit",
    "Subject",
    "mean_log_proba",
]

Refit = Callable[[float, int], "nn.Module | Subject"]
"""``refit(label_fraction, seed) -> the recipe retrained on that fraction``."""
Adapt = Callable[["Subject", Inputs], None]
Reset = Callable[["Subject"], None]
_Entry = tuple[tuple[torch.Tensor, ...], int, torch.Tensor, torch.Tensor | None]

MEMO_SIZE = 6
"""Inputs whose outputs a Subject keeps (train, val, test and a few shift or OOD splits)."""


class Ensemble(nn.Module):
    """Several classifiers as one: ``combiner([member(x) for member in members])``.

    Args:
        members: modules mapping inputs (a tensor or a modality dict) to (N, C) logits.
        combiner: the rule joining their logits into log-probabilities (default: the mean
            of their probabilities).
    """

    def __init__(self, members: Sequence[nn.Module], combiner: Combiner | None = None) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combiner = combiner if combiner is not None else MeanCombiner()

    def forward(self, x: Inputs) -> torch.Tensor:
        """(N, C) log-probabilities of the ensemble."""
        out: torch.Tensor = self.combiner([member(x) for member in self.members])
        return out


class MeanProbability(Ensemble):
    """Several classifiers as one: the log of their (weighted) mean class probabilities.

    Args:
        members: modules mapping inputs (a tensor or a modality dict) to (N, C) logits.
        weights: (K,) member weights; None: equal weights.
    """

    def __init__(
        self, members: Sequence[nn.Module], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__(members, MeanCombiner(weights))


def _bumps_version(method: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(method)
    def wrapped(self: Subject, *args: Any) -> None:
        method(self, *args)
        self._version += 1

    return wrapped


def _same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> bool:
    return len(a) == len(b) and all(s is t for s, t in zip(a, b, strict=True))


class Subject:
    """A trained model (or several members) under evaluation, with how to refit it.

    Outputs of the last few inputs are kept, matched by tensor identity and the subject's
    version, so the core metrics and every pillar that scores the same split share one forward
    pass over it, unless the subject adapted in between.

    Args:
        model: the model, or a sequence (or ``nn.ModuleList``) of members whose probabilities
            are averaged.
        refit: ``(label_fraction, seed) -> model or Subject`` retrained on that fraction (for
            data efficiency); None where the caller cannot retrain.
        eval_batch_size: rows per forward pass.
        adapt: ``adapt(subject, x)`` changes the members before ``x`` is predicted; None: the
            subject does not adapt (a subclass may override :meth:`adapt` instead).
        reset: ``reset(subject)`` undoes every adaptation; None: nothing to undo.
        combiner: how several members' logits become the ensemble's probabilities (default:
            their mean probability); ignored for a single model.

    Raises:
        ValueError: no model was given.
    """

    def __init__(
        self,
        model: nn.Module | Sequence[nn.Module],
        refit: Refit | None = None,
        eval_batch_size: int = 1024,
        *,
        adapt: Adapt | None = None,
        reset: Reset | None = None,
        combiner: Combiner | None = None,
    ) -> None:
        if isinstance(model, nn.ModuleList) or not isinstance(model, nn.Module):
            self._members: tuple[nn.Module, ...] = tuple(model)
        else:
            self._members = (model,)
        if not self._members:
            raise ValueError("a Subject needs at least one model")
        self.refit, self.eval_batch_size = refit, eval_batch_size
        self._adapt, self._reset = adapt, reset
        self._version = 0
        self._memo: list[_Entry] = []
        self._combiner = combiner if combiner is not None else MeanCombiner()
        self._average: Ensemble | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A subclass's own adapt or reset changes the model: wrapping them makes every call bump
        # the memo's version, so an override cannot forget to and is never served stale outputs.
        super().__init_subclass__(**kwargs)
        for name in ("adapt", "reset"):
            if name in cls.__dict__:
                setattr(cls, name, _bumps_version(cls.__dict__[name]))

    def __repr__(self) -> str:
        names = ", ".join(type(m).__name__ for m in self._members)
        return f"{type(self).__name__}([{names}], eval_batch_size={self.eval_batch_size})"

    @property
    def members(self) -> tuple[nn.Module, ...]:
        """The member modules (one for a single model)."""
        return self._members

    @property
    def model(self) -> nn.Module:
        """The model of a single-member subject (pillars use :meth:`differentiable`).

        Raises:
            ValueError: the subject has several members.
        """
        if len(self._members) > 1:
            raise ValueError(f"the subject has {len(self._members)} members, not one model")
        return self._members[0]

    @property
    def has_logits(self) -> bool:
        """Whether :meth:`logits` exists: one member (averaged probabilities have none)."""
        return len(self._members) == 1

    @property
    def adapts(self) -> bool:
        """Whether the subject changes while it is evaluated (test-time adaptation)."""
        kind = type(self)
        overridden = kind.adapt is not Subject.adapt or kind.reset is not Subject.reset
        return overridden or self._adapt is not None or self._reset is not None

    def adapt(self, x: Inputs) -> None:
        """Adapt to inputs about to be predicted; called before every prediction not served
        from the memo. Identity unless an ``adapt`` callable was given or a subclass overrides
        it (the version then moves on, so nothing computed before is served again)."""
        if self._adapt is not None:
            self._adapt(self, x)
            self._version += 1

    def reset(self) -> None:
        """Return to the state the subject was handed over in, undoing every adaptation (no-op
        unless a ``reset`` callable was given or a subclass overrides it)."""
        if self._reset is not None:
            self._reset(self)
            self._version += 1

    def unadapted(self) -> Subject | None:
        """The same model without its test-time adaptation, for before/after comparisons and
        for the gradient paths of attacks and attributions; None for a subject that does not
        adapt (it is its own unadapted self)."""
        return None

    @property
    def adaptation(self) -> str:
        """One line saying how the subject adapts while evaluated ("" when it does not)."""
        return ""

    def logits(self, x: Inputs) -> torch.Tensor:
        """(N, C) logits of the model in eval mode (computed once per input tensor).

        Raises:
            ValueError: the subject averages several members' probabilities (no logits).
        """
        if not self.has_logits:
            raise ValueError(
                f"a subject of {len(self._members)} members has no logits: its prediction is "
                "an average of probabilities; use predict_proba"
            )
        return self._outputs(x)

    def predict_proba(self, x: Inputs) -> torch.Tensor:
        """(N, C) class probabilities: softmax of the logits, or the members' mean."""
        out = self._outputs(x)
        return torch.softmax(out, dim=1) if self.has_logits else out

    def predict(self, x: Inputs) -> torch.Tensor:
        """(N,) predicted classes: argmax of the logits, or of the mean probabilities."""
        return self._outputs(x).argmax(1)

    @property
    def combiner(self) -> Combiner:
        """How the members' logits are joined (the mean probability unless one was given)."""
        return self._combiner

    def member_proba(self, x: Inputs) -> torch.Tensor:
        """(K, N, C) class probabilities of each member (K = 1 for a single model), computed
        in the same memoised pass as :meth:`predict_proba`."""
        self._outputs(x)
        return (
            self._memo[0][3]
            if self._memo[0][3] is not None
            else torch.softmax(self._memo[0][2], dim=1).unsqueeze(0)
        )

    def differentiable(self) -> nn.Module:
        """The module gradients go through (attacks, attributions): the model itself for one
        member, an :class:`Ensemble` of the members with the combiner's differentiable
        ``surrogate()`` for several (the combiner itself unless it votes)."""
        if len(self._members) == 1:
            return self._members[0]
        if self._average is None:
            self._average = Ensemble(self._members, self._combiner.surrogate())
        return self._average

    def _outputs(self, x: Inputs) -> torch.Tensor:
        """(N, C) logits (one member) or combined probabilities (several), memoised; the
        memo's entry for ``x`` is moved to the front."""
        key = tuple(x.values()) if isinstance(x, dict) else (x,)
        for i, entry in enumerate(self._memo):
            if entry[1] == self._version and _same(entry[0], key):
                self._memo.insert(0, self._memo.pop(i))
                return entry[2]
        self.adapt(x)
        out, members = self._forward(x)
        # outputs of an earlier version are stale: drop them rather than let them take slots
        self._memo = [e for e in self._memo if e[1] == self._version]
        self._memo.insert(0, (key, self._version, out, members))
        del self._memo[MEMO_SIZE:]
        return out

    def _member_logits(self, k: int, x: Inputs) -> torch.Tensor:
        """(N, C) logits of member ``k`` on ``x`` (a subclass may predict differently, e.g.
        while adapting)."""
        return predict_logits(self._members[k], x, self.eval_batch_size)

    def _forward(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        if len(self._members) == 1:
            return self._member_logits(0, x), None
        logits = [self._member_logits(k, x) for k in range(len(self._members))]
        with torch.no_grad():
            proba = self._combiner(logits).exp()
        return proba, torch.stack([torch.softmax(z, dim=1) for z in logits])
