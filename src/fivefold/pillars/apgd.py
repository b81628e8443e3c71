"""APGD: step-size-free PGD with momentum and checkpoints (the attacks of AutoAttack).

Runs in the unit coordinates of :mod:`fivefold.pillars.attacks` (any bounds, unbounded and
multi-input tasks), following the reference implementation (fra31/auto-attack, as ported to
``torchattacks.APGD``): step size 2·eps halved at checkpoints where the loss oscillated or did
not improve (restarting from the best point), momentum 0.75, cross-entropy or DLR loss.

Reference: Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import nn

from fivefold.data.task import Inputs
from fivefold.pillars.attacks import (
    AttackResult,
    Box,
    Norm,
    Objective,
    Unit,
    cross_entropy,
    frozen_eval,
    l2_norms,
    linf_norms,
    project,
    step_direction,
)

__all__ = ["apgd", "dlr_loss"]

Loss = Literal["ce", "dlr"]
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


class _Schedule:
    """Checkpoint bookkeeping: when to check and which samples halve their step."""

    def __init__(self, steps: int, n: int, loss_best: torch.Tensor) -> None:
        self.k = max(int(0.22 * steps), 1)
        self.k_min, self.decrease = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
        self.since = 0
        self.reduced = torch.ones(n, dtype=torch.bool)
        self.loss_at_check = loss_best.clone()

    def halve(self, losses: torch.Tensor, i: int, loss_best: torch.Tensor) -> torch.Tensor | None:
        """(N,) samples whose step halves after step ``i``, or None between checkpoints."""
        self.since += 1
        if self.since < self.k:
            return None
        stalled = ~self.reduced & (self.loss_at_check >= loss_best)
        halve = _oscillated(losses, i, self.k) | stalled
        self.reduced, self.loss_at_check = halve, loss_best.clone()
        self.since, self.k = 0, max(self.k - self.decrease, self.k_min)
        return halve


def _momentum_step(
    obj: Objective,
    u: Unit,
    u_old: Unit,
    grad: Unit,
    size: torch.Tensor,
    *,
    a: float,
    eps: float,
    norm: Norm,
) -> Unit:
    """z = P(u + size·dir(g)); u' = P(u + a·(z - u) + (1 - a)·(u - u_old))."""
    direction = step_direction(grad, norm)
    z = project({k: v + _bc(size, v) * direction[k] for k, v in u.items()}, obj, eps, norm)
    mixed = {k: v + a * (z[k] - v) + (1 - a) * (v - u_old[k]) for k, v in u.items()}
    return project(mixed, obj, eps, norm)


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
        boxes: perturbable inputs (see :func:`fivefold.pillars.attacks.attack_boxes`).
        norm: "linf" or "l2".
        loss: "ce" or "dlr" (DLR needs 3 or more classes).
        steps: iterations (AutoAttack uses 100).
        gen: generator of the random start.

    Returns:
        a misclassified iterate where one was found (else the last) and whether each sample
        stayed correctly classified at every iterate.

    Reference: Croce & Hein 2020, Algorithm 1.
    """
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    criterion = cross_entropy if loss == "ce" else dlr_loss
    with frozen_eval(model):
        obj = Objective(model, x, boxes)
        u = _start(obj, eps, norm, gen or torch.Generator().manual_seed(0))
        logits, loss_now, grad = obj.gradient(u, y, criterion)
        correct = logits.argmax(1) == y
        fooled, best, grad_best, loss_best = dict(u), dict(u), grad, loss_now.clone()
        size = torch.full((len(y),), 2.0 * eps)
        history = torch.zeros(steps, len(y))
        schedule, u_old = _Schedule(steps, len(y), loss_best), u
        for i in range(steps):
            a = MOMENTUM if i else 1.0
            u, u_old = _momentum_step(obj, u, u_old, grad, size, a=a, eps=eps, norm=norm), u
            logits, loss_now, grad = obj.gradient(u, y, criterion)
            fooled = _pick(correct, u, fooled)
            correct = correct & (logits.argmax(1) == y)
            better = loss_now > loss_best
            best, grad_best = _pick(better, u, best), _pick(better, grad, grad_best)
            loss_best, history[i] = torch.where(better, loss_now, loss_best), loss_now
            halve = schedule.halve(history, i, loss_best)
            if halve is not None:
                size = torch.where(halve, size / 2, size)
                u, grad = _pick(halve, best, u), _pick(halve, grad_best, grad)
    return AttackResult(obj.inputs(fooled), correct)
