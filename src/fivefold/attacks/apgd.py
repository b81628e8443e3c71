"""APGD: step-size-free PGD with momentum and checkpoints (the attacks of AutoAttack).

Runs in the unit coordinates of :mod:`fivefold.attacks.gradient` (any bounds, unbounded and
multi-input tasks), following the reference implementation (fra31/auto-attack, as ported to
``torchattacks.APGD``): step size 2·eps halved at checkpoints where the loss oscillated or did
not improve (restarting from the best point), momentum 0.75, cross-entropy or DLR loss.

Reference: Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import nn

from fivefold.attacks.space import (
    AttackResult,
    Box,
    Norm,
    Objective,
    Tracker,
    Unit,
    cross_entropy,
    frozen_eval,
    l2_norms,
    linf_norms,
    project,
    rows,
    step_direction,
)
from fivefold.data.task import Inputs

__all__ = ["apgd", "dlr_loss"]

Loss = Literal["ce", "dlr"]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MOMENTUM = 0.75
RHO = 0.75  # a checkpoint halves the step unless the loss rose in > RHO of the steps since


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) Difference of Logits Ratio: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3).

    Needs at least 3 classes. Reference: Croce & Hein 2020, eq. (5).
    """
    ordered, order = logits.sort(dim=1)
    top_is_y = (order[:, -1] == y).to(logits.dtype)
    z_y = logits.gather(1, y[:, None])[:, 0]
    best_other = ordered[:, -2] * top_is_y + ordered[:, -1] * (1 - top_is_y)
    return -(z_y - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def _start(obj: Objective, eps: float, norm: Norm, gen: torch.Generator) -> Unit:
    """APGD's random start: a random direction scaled to the eps-sphere, then projected."""
    if norm == "linf":
        t = {k: torch.rand(v.shape, generator=gen) * 2 - 1 for k, v in obj.u0.items()}
        scale = eps / linf_norms(t).clamp_min(1e-12)
    else:
        t = {k: torch.randn(v.shape, generator=gen) for k, v in obj.u0.items()}
        scale = eps / l2_norms(t).clamp_min(1e-12)
    shifted = {k: obj.u0[k] + v * _bc(scale, v) for k, v in t.items()}
    return project(shifted, obj, eps, norm)


def _bc(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *[1] * (like.dim() - 1))


def _pick(mask: torch.Tensor, new: Unit, old: Unit) -> Unit:
    """Per sample: ``new`` where ``mask`` (N,) else ``old``."""
    return {k: torch.where(_bc(mask, v), new[k], v) for k, v in old.items()}


def _oscillated(losses: torch.Tensor, i: int, k: int) -> torch.Tensor:
    """(N,) True where the loss rose in at most RHO·k of the last k steps (up to step i).

    As in the reference code, the step before the first one compares with a zero row.
    """
    rises = torch.zeros(losses.shape[1])
    for c in range(k):
        rises += (losses[i - c] > losses[i - c - 1]).float()
    return rises <= k * RHO


@dataclass
class _State:
    """Per-sample APGD state of the samples still correctly classified."""

    obj: Objective
    u: Unit
    u_old: Unit
    grad: Unit
    best: Unit
    grad_best: Unit
    loss_best: torch.Tensor  # (N,)
    size: torch.Tensor  # (N,) step sizes
    history: torch.Tensor  # (steps, N) loss at every step
    reduced: torch.Tensor  # (N,) step halved at the last checkpoint
    loss_at_check: torch.Tensor  # (N,) best loss at the last checkpoint

    def keep(self, keep: torch.Tensor) -> _State:
        """The state of the rows ``keep`` only."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: rows(v, keep) if isinstance(v, dict) else v for k, v in out.items()}
        out.update(obj=self.obj.subset(keep), history=self.history[:, keep])
        for name in ("loss_best", "size", "reduced", "loss_at_check"):
            out[name] = out[name][keep]
        return _State(**out)


class _Checkpoints:
    """When to check progress: first after 22 % of the steps, then ever more often."""

    def __init__(self, steps: int) -> None:
        self.k = max(int(0.22 * steps), 1)
        self.k_min, self.decrease = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
        self.since = 0

    def due(self) -> int | None:
        """The window length k if a checkpoint falls on this step, else None."""
        self.since += 1
        if self.since < self.k:
            return None
        k, self.since, self.k = self.k, 0, max(self.k - self.decrease, self.k_min)
        return k


def _checkpoint(s: _State, i: int, k: int) -> None:
    """Halve the step of samples whose loss oscillated or stalled; restart them at their best."""
    stalled = ~s.reduced & (s.loss_at_check >= s.loss_best)
    halve = _oscillated(s.history, i, k) | stalled
    s.reduced, s.loss_at_check = halve, s.loss_best.clone()
    s.size = torch.where(halve, s.size / 2, s.size)
    s.u, s.grad = _pick(halve, s.best, s.u), _pick(halve, s.grad_best, s.grad)


def _momentum_step(s: _State, a: float, eps: float, norm: Norm) -> Unit:
    """z = P(u + size·dir(g)); u' = P(u + a·(z - u) + (1 - a)·(u - u_old))."""
    direction = step_direction(s.grad, norm)
    z = project({k: v + _bc(s.size, v) * direction[k] for k, v in s.u.items()}, s.obj, eps, norm)
    mixed = {k: v + a * (z[k] - v) + (1 - a) * (v - s.u_old[k]) for k, v in s.u.items()}
    return project(mixed, s.obj, eps, norm)


def _initial(
    obj: Objective, u: Unit, steps: int, criterion: Criterion, eps: float
) -> tuple[_State, torch.Tensor]:
    """The state at the start point ``u`` and the (N,) correctness there."""
    logits, loss, grad = obj.gradient(u, criterion)
    n = len(obj.y)
    state = _State(
        obj,
        u,
        u,
        grad,
        dict(u),
        grad,
        loss.clone(),
        torch.full((n,), 2.0 * eps),
        torch.zeros(steps, n),
        torch.ones(n, dtype=torch.bool),
        loss.clone(),
    )
    return state, logits.argmax(1) == obj.y


def apgd(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    eps: float,
    boxes: Mapping[str, Box],
    *,
    norm: Norm = "linf",
    loss: Loss = "ce",
    steps: int = 20,
    gen: torch.Generator | None = None,
) -> AttackResult:
    """APGD with one restart on the cross-entropy ("ce") or DLR ("dlr") loss.

    Args:
        model: the classifier.
        x: (N, ...) clean inputs (a tensor or a dict).
        y: (N,) labels.
        eps: radius of the L∞ or L2 ball in unit coordinates.
        boxes: perturbable inputs (see :func:`fivefold.attacks.gradient.attack_boxes`).
        norm: "linf" or "l2".
        loss: "ce" or "dlr" (DLR needs 3 or more classes).
        steps: iterations (AutoAttack uses 100).
        gen: generator of the random start.

    Returns:
        the first misclassified iterate where one was found (else the last) and whether each
        sample stayed correctly classified at every iterate.

    Reference: Croce & Hein 2020, Algorithm 1.
    """
    criterion: Criterion = cross_entropy if loss == "ce" else dlr_loss
    with frozen_eval(model):
        full = Objective(model, x, y, boxes)
        u = _start(full, eps, norm, gen or torch.Generator())
        s, now = _initial(full, u, steps, criterion, eps)
        track, checkpoints = Tracker(u), _Checkpoints(steps)
        keep = track.update(now, s.u)
        for i in range(steps):
            s = s if keep.all() else s.keep(keep)
            if not len(s.obj.y):
                break
            s.u, s.u_old = _momentum_step(s, MOMENTUM if i else 1.0, eps, norm), s.u
            logits, loss_now, s.grad = s.obj.gradient(s.u, criterion)
            keep = track.update(logits.argmax(1) == s.obj.y, s.u)
            better = loss_now > s.loss_best
            s.best, s.grad_best = _pick(better, s.u, s.best), _pick(better, s.grad, s.grad_best)
            s.loss_best, s.history[i] = torch.where(better, loss_now, s.loss_best), loss_now
            k = checkpoints.due()
            if k is not None:
                _checkpoint(s, i, k)
        else:
            track.finish(rows(s.u, keep))
    return AttackResult(full.inputs(track.kept), track.correct)
