"""FGSM and PGD (L-inf and L2) in the unit input space of :mod:`.attack_space`.

Eps is in units of the input range for bounded inputs and absolute for unbounded
(standardised) ones; the same eps applies to every input of a multi-input task. A sample
counts as robust only while every iterate the attack evaluated is still classified correctly;
fooled samples leave the batch, so later steps only compute on the rest.

Reference: Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015
(FGSM); Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
ICLR 2018 (PGD).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from fivefold.attacks.space import (
    AttackResult,
    Box,
    Norm,
    Objective,
    Tracker,
    Unit,
    attack_boxes,
    cross_entropy,
    frozen_eval,
    project,
    random_start,
    rows,
    step_direction,
)
from fivefold.data.task import Inputs

__all__ = ["AttackResult", "Box", "Norm", "attack_boxes", "fgsm", "frozen_eval", "pgd"]


def _result(obj: Objective, u: Unit, correct: torch.Tensor) -> AttackResult:
    return AttackResult(obj.inputs({k: v.detach() for k, v in u.items()}), correct)


def fgsm(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    eps: float,
    boxes: Mapping[str, Box],
    *,
    gen: torch.Generator | None = None,
) -> AttackResult:
    """One signed-gradient step of size ``eps`` (L∞).

    Args:
        model: the classifier.
        x: (N, ...) clean inputs (a tensor or a dict).
        y: (N,) labels.
        eps: L∞ radius in unit coordinates.
        boxes: perturbable inputs (see :func:`attack_boxes`).
        gen: unused (FGSM is deterministic); accepted so all attacks share one signature.

    Returns:
        the adversarial inputs and whether each is still classified correctly.

    Reference: Goodfellow et al. 2015.
    """
    with frozen_eval(model):
        obj = Objective(model, x, y, boxes)
        _, _, grad = obj.gradient(obj.u0, cross_entropy)
        u = project({k: v + eps * grad[k].sign() for k, v in obj.u0.items()}, obj, eps, "linf")
        with torch.no_grad():
            correct = obj.logits(u).argmax(1) == y
    return _result(obj, u, correct)


def pgd(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    eps: float,
    boxes: Mapping[str, Box],
    *,
    norm: Norm = "linf",
    steps: int = 10,
    step_size: float = 2.5,
    random_init: bool = True,
    gen: torch.Generator | None = None,
) -> AttackResult:
    """Projected gradient ascent on the cross-entropy.

    Args:
        model: the classifier.
        x: (N, ...) clean inputs (a tensor or a dict).
        y: (N,) labels.
        eps: radius of the L∞ or L2 ball in unit coordinates.
        boxes: perturbable inputs (see :func:`attack_boxes`).
        norm: "linf" or "l2".
        steps: gradient steps.
        step_size: step length relative to ``eps / steps`` (2.5 as in Madry et al.).
        random_init: start from a uniform random point of the ball.
        gen: generator of the random start.

    Returns:
        the first misclassified iterate (or the last iterate) and whether each sample stayed
        correctly classified at every iterate.

    Reference: Madry et al. 2018.
    """
    alpha = step_size * eps / max(steps, 1)
    with frozen_eval(model):
        full = Objective(model, x, y, boxes)
        u = random_start(full, eps, norm, gen or torch.Generator()) if random_init else full.u0
        track, obj = Tracker(u), full
        for _ in range(steps):
            logits, _, grad = obj.gradient(u, cross_entropy)
            keep = track.update(logits.argmax(1) == obj.y, u)
            if not keep.all():
                obj, u, grad = obj.subset(keep), rows(u, keep), rows(grad, keep)
            if not len(obj.y):
                break
            direction = step_direction(grad, norm)
            u = project({k: v + alpha * direction[k] for k, v in u.items()}, obj, eps, norm)
        if len(obj.y):
            with torch.no_grad():
                keep = track.update(obj.logits(u).argmax(1) == obj.y, u)
            track.finish(rows(u, keep))
    return _result(full, track.kept, track.correct)
