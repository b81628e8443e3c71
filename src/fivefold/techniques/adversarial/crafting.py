"""Crafting adversarial examples for the current training batch.

The attack runs in the unit coordinates of :mod:`fivefold.attacks.space` (eps is a
fraction of the input range for bounded inputs, absolute for unbounded ones; one-hot columns
never move; bounds are respected), with a free loss so that PGD, FGSM with a random start and
the KL inner maximisation of TRADES share one loop.

Two things differ from the evaluation attacks of the robustness pillar: the model is being
trained, so :func:`crafting` restores every module's train/eval flag, the parameters'
``requires_grad`` and (in "train" mode) the batch-norm running statistics afterwards; and only
input gradients are taken (``torch.autograd.grad`` on the inputs), so no parameter gradient is
ever left behind.

Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
ICLR 2018; Wong, Rice & Kolter, "Fast is better than free: Revisiting adversarial training",
ICLR 2020.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.attacks.space import (
    Box,
    Norm,
    Objective,
    Unit,
    frozen,
    project,
    random_start,
    step_direction,
)
from fivefold.data.task import Inputs

__all__ = [
    "CraftMode",
    "EpochClock",
    "Start",
    "crafting",
    "kl_to_clean",
    "perturb",
    "soft_cross_entropy",
    "warmup_eps",
]

CraftMode = Literal["eval", "train"]
Start = Literal["none", "uniform", "normal"]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def warmup_eps(eps: float, warmup_epochs: float, progress: float) -> float:
    """The attack radius after ``progress`` epochs of training: linear from 0 to ``eps``.

    Args:
        eps: the final radius.
        warmup_epochs: length of the ramp in epochs (0: full eps from the start).
        progress: epochs of training done, counting the current step (e.g. 0.25 after the
            first quarter of epoch 1).

    Returns:
        ``eps · min(1, progress / warmup_epochs)``.
    """
    if warmup_epochs <= 0:
        return eps
    return eps * min(1.0, max(progress, 0.0) / warmup_epochs)


class EpochClock:
    """Epochs of training done at the current step, read from ``ctx.epoch`` and ``ctx.step``.

    ``ctx.step`` counts steps since the context was made (a wrapping technique may run several
    fits), so the clock notes the step at which each epoch began.
    """

    def __init__(self) -> None:
        self.steps_per_epoch: int | None = None
        self._epoch = -1
        self._first_step = 0

    def start(self, n_train: int, batch_size: int) -> None:
        """Begin a fit over ``n_train`` samples in batches of ``batch_size``."""
        self.steps_per_epoch = max(1, math.ceil(n_train / batch_size))
        self._epoch = -1

    def progress(self, epoch: int, step: int) -> float:
        """Epochs done once the current step ends (whole epochs when the length is unknown)."""
        if epoch != self._epoch:
            self._epoch, self._first_step = epoch, step
        if not self.steps_per_epoch:
            return epoch + 1.0
        within = min(step - self._first_step + 1, self.steps_per_epoch)
        return epoch + within / self.steps_per_epoch


def crafting(model: nn.Module, mode: CraftMode) -> AbstractContextManager[nn.Module]:
    """The model as the attack sees it; everything the attack could change is restored on exit.

    Args:
        model: the model being trained.
        mode: "eval" runs the attack in eval mode (batch norm uses its running statistics,
            dropout is off: each sample's perturbation depends on that sample alone and targets
            the network that will be evaluated); "train" keeps the modules' current flags
            (batch statistics, as in the training step) and puts the batch-norm running
            statistics back afterwards, so the extra forward passes leave no trace in them.

    Yields:
        the model, with parameters that do not require gradients.
    """
    return frozen(model, mode)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,) cross-entropy against (N,) labels or (N, C) soft targets."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target, reduction="none")
    return torch.sum(-target * F.log_softmax(logits, dim=1), dim=1)


def kl_to_clean(logits: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """(N,) KL(p_clean ‖ softmax(logits)), the TRADES inner objective."""
    return F.kl_div(F.log_softmax(logits, dim=1), p_clean, reduction="none").sum(dim=1)


def perturb(
    model: nn.Module,
    x: Inputs,
    target: torch.Tensor,
    boxes: Mapping[str, Box],
    loss: LossFn,
    *,
    eps: float,
    norm: Norm,
    steps: int,
    alpha: float,
    start: Start,
    gen: torch.Generator,
    start_scale: float = 1e-3,
) -> Inputs:
    """Projected gradient ascent on ``loss`` from a start point in the eps-ball.

    Args:
        model: maps inputs to (N, C) logits; call it inside :func:`crafting`.
        x: (N, ...) clean inputs (a tensor or a modality dict).
        target: what ``loss`` compares the logits with: (N,) labels, (N, C) soft targets or
            (N, C) clean probabilities.
        boxes: the perturbable inputs (see :func:`fivefold.attacks.space.attack_boxes`).
        loss: per-sample loss ``loss(logits, target) -> (N,)``.
        eps: radius in unit coordinates.
        norm: "linf" or "l2".
        steps: gradient steps (0: the start point itself).
        alpha: step length in unit coordinates.
        start: "none" (the clean point), "uniform" (uniform in the ball) or "normal"
            (Gaussian noise of std ``start_scale``, as in TRADES).
        gen: random stream of the start point.
        start_scale: std of the "normal" start.

    Returns:
        detached adversarial inputs like ``x``, inside the ball, the masks and the bounds.
    """
    obj = Objective(model, x, target, boxes)
    if not obj.u0:
        return x
    u = _start(obj, eps, norm, start, gen, start_scale)
    for _ in range(steps):
        _, _, grad = obj.gradient(u, loss)
        direction = step_direction(grad, norm)
        u = project({k: v + alpha * direction[k] for k, v in u.items()}, obj, eps, norm)
    return obj.inputs({k: v.detach() for k, v in u.items()})


def _start(
    obj: Objective, eps: float, norm: Norm, start: Start, gen: torch.Generator, scale: float
) -> Unit:
    if start == "uniform":
        return random_start(obj, eps, norm, gen)
    if start == "normal":
        noise = {k: scale * torch.randn(v.shape, generator=gen) for k, v in obj.u0.items()}
        return project({k: v + noise[k].to(v.dtype) for k, v in obj.u0.items()}, obj, eps, norm)
    return dict(obj.u0)
