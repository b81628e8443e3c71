"""The input space of the gradient attacks: unit coordinates, eps-balls, masks and bounds.

Attacks run in "unit" coordinates per input: a bounded input ``x in [low, high]`` is seen as
``u = (x - low) / (high - low) in [0, 1]``, an unbounded one as itself. So eps is in units of the
input range for bounded inputs and absolute for unbounded (standardised) ones, the same eps
applies to every input of a multi-input task, and only bounded inputs are clamped. Features a
:class:`Box` masks (one-hot columns of tabular data) never move; integer inputs (token ids)
pass through untouched.

Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
ICLR 2018 (projected gradient methods).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, ModalityInfo

__all__ = [
    "AttackResult",
    "Box",
    "Norm",
    "Objective",
    "Tracker",
    "Unit",
    "attack_boxes",
    "cross_entropy",
    "frozen_eval",
    "l2_norms",
    "linf_norms",
    "project",
    "random_start",
    "rows",
    "step_direction",
]

Norm = Literal["linf", "l2"]
Unit = dict[str, torch.Tensor]
"""Perturbable inputs in unit coordinates, by input name; each (N, ...)."""


@dataclass(frozen=True)
class Box:
    """How one input maps to unit coordinates and where it may move.

    Attributes:
        low: ``x = low + span · u``.
        span: the input range (1 for unbounded inputs).
        clamp: keep ``u`` in [0, 1] (bounded inputs).
        mask: per-sample-shaped 0/1 tensor of movable features, or None (all movable).
    """

    low: float = 0.0
    span: float = 1.0
    clamp: bool = False
    mask: torch.Tensor | None = None


@dataclass(frozen=True)
class AttackResult:
    """Adversarial inputs (N, ...) like the clean ones and (N,) bool still-correct flags."""

    x: Inputs
    correct: torch.Tensor


def attack_boxes(inputs: Mapping[str, ModalityInfo]) -> dict[str, Box]:
    """A :class:`Box` for every float input (text token ids get none, so never move)."""
    boxes = {}
    for key, info in inputs.items():
        if info.kind == "text":
            continue
        mask = None
        if info.kind == "tabular" and info.categorical:
            mask = torch.ones(info.shape)
            mask[[i for group in info.categorical for i in group]] = 0.0
        low, high = info.bounds or (0.0, 1.0)
        boxes[key] = Box(low, high - low, info.bounds is not None, mask)
    return boxes


@contextmanager
def frozen(model: nn.Module, mode: Literal["eval", "train"] = "eval") -> Iterator[nn.Module]:
    """No parameter gradients inside, and eval mode (``mode="eval"``) or the modules' own flags
    with the buffers (batch-norm statistics) put back on exit (``mode="train"``); every
    module's train flag and every parameter's ``requires_grad`` are restored on exit."""
    flags = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    saved = [(b, b.detach().clone()) for b in model.buffers()] if mode == "train" else []
    if mode == "eval":
        model.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in flags:
            m.training = flag


def frozen_eval(model: nn.Module) -> AbstractContextManager[nn.Module]:
    """Eval mode and no parameter gradients inside; both restored on exit."""
    return frozen(model, "eval")


class Objective:
    """The model seen from unit coordinates: logits, losses and input gradients of a batch.

    Args:
        model: maps inputs (a tensor or a dict) to (N, C) logits; eval mode expected.
        x: the clean inputs (a tensor means a single input named "x").
        y: (N,) labels.
        boxes: the perturbable inputs by name (see :func:`attack_boxes`).
    """

    def __init__(
        self, model: nn.Module, x: Inputs, y: torch.Tensor, boxes: Mapping[str, Box]
    ) -> None:
        self.model, self.y = model, y
        self.is_dict = isinstance(x, dict)
        self.fixed = dict(x) if isinstance(x, dict) else {"x": x}
        self.boxes = {k: b for k, b in boxes.items() if k in self.fixed}
        self.u0: Unit = {k: _to_unit(self.fixed[k], b).detach() for k, b in self.boxes.items()}

    def subset(self, keep: torch.Tensor) -> Objective:
        """The same objective on the rows where ``keep`` (N,) is True."""
        out = copy.copy(self)
        out.y, out.fixed, out.u0 = self.y[keep], rows(self.fixed, keep), rows(self.u0, keep)
        return out

    def inputs(self, u: Unit) -> Inputs:
        """Model inputs from unit coordinates ``u``."""
        full = {**self.fixed, **{k: _from_unit(v, self.boxes[k]) for k, v in u.items()}}
        return full if self.is_dict else full["x"]

    def logits(self, u: Unit) -> torch.Tensor:
        """(N, C) logits at ``u``."""
        out: torch.Tensor = self.model(self.inputs(u))
        return out

    def gradient(
        self, u: Unit, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, Unit]:
        """(N, C) logits, (N,) per-sample losses and masked d(sum of losses)/du at ``u``."""
        leaves = {k: v.detach().requires_grad_(True) for k, v in u.items()}
        with torch.enable_grad():
            logits = self.logits(leaves)
            losses = loss(logits, self.y)
            grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
        masked = {k: _masked(g, self.boxes[k].mask) for k, g in zip(leaves, grads, strict=True)}
        return logits.detach(), losses.detach(), masked


def _to_unit(x: torch.Tensor, box: Box) -> torch.Tensor:
    return x if (box.low, box.span) == (0.0, 1.0) else (x - box.low) / box.span


def _from_unit(u: torch.Tensor, box: Box) -> torch.Tensor:
    return u if (box.low, box.span) == (0.0, 1.0) else box.low + box.span * u


def rows(d: Unit, keep: torch.Tensor) -> Unit:
    """The rows ``keep`` (a (N,) bool mask or index tensor) of every tensor of ``d``."""
    return {k: v[keep] for k, v in d.items()}


class Tracker:
    """Which samples are still correctly classified, and the iterate kept for each.

    A fooled sample keeps the iterate that fooled it and leaves the active set, so later steps
    only compute on the rest; :meth:`finish` stores the last iterate of the samples left.
    """

    def __init__(self, u: Unit) -> None:
        n = len(next(iter(u.values())))
        self.active = torch.arange(n)
        self.correct = torch.ones(n, dtype=torch.bool)
        self.kept = {k: v.detach().clone() for k, v in u.items()}

    def update(self, now: torch.Tensor, u: Unit) -> torch.Tensor:
        """Record (n_active,) correctness ``now`` at iterate ``u``; return it as the keep mask."""
        fooled = ~now
        if fooled.any():
            rows_fooled = self.active[fooled]
            for k, v in u.items():
                self.kept[k][rows_fooled] = v[fooled].detach()
            self.correct[rows_fooled] = False
            self.active = self.active[now]
        return now

    def finish(self, u: Unit) -> None:
        """Keep the final iterate ``u`` (rows of the active samples) of the samples left."""
        for k, v in u.items():
            self.kept[k][self.active] = v.detach()


def _masked(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return t if mask is None else t * mask


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape (N,) to broadcast against (N, ...) ``like``."""
    return v.view(-1, *[1] * (like.dim() - 1))


def l2_norms(d: Unit) -> torch.Tensor:
    """(N,) joint L2 norm over all inputs of each sample."""
    return torch.stack([v.flatten(1).pow(2).sum(1) for v in d.values()]).sum(0).sqrt()


def linf_norms(d: Unit) -> torch.Tensor:
    """(N,) joint L∞ norm over all inputs of each sample."""
    return torch.stack([v.flatten(1).abs().amax(1) for v in d.values()]).amax(0)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) per-sample cross-entropy."""
    return F.cross_entropy(logits, y, reduction="none")


def project(u: Unit, obj: Objective, eps: float, norm: Norm) -> Unit:
    """Project ``u`` onto the eps-ball around the clean point, the masks and the bounds."""
    delta = {k: _masked(v - obj.u0[k], obj.boxes[k].mask) for k, v in u.items()}
    if norm == "linf":
        delta = {k: d.clamp(-eps, eps) for k, d in delta.items()}
    else:
        factor = (eps / l2_norms(delta).clamp_min(1e-12)).clamp(max=1.0)
        delta = {k: d * _per_sample(factor, d) for k, d in delta.items()}
    out = {k: obj.u0[k] + d for k, d in delta.items()}
    return {k: v.clamp(0.0, 1.0) if obj.boxes[k].clamp else v for k, v in out.items()}


def step_direction(grad: Unit, norm: Norm) -> Unit:
    """Steepest ascent direction of unit size: sign(g) (L∞) or g / ‖g‖₂ (L2)."""
    if norm == "linf":
        return {k: g.sign() for k, g in grad.items()}
    inv = 1.0 / l2_norms(grad).clamp_min(1e-12)
    return {k: g * _per_sample(inv, g) for k, g in grad.items()}


def random_start(obj: Objective, eps: float, norm: Norm, gen: torch.Generator) -> Unit:
    """Uniform in the L∞ box, or uniform direction and radius in the L2 ball, projected."""
    u0 = obj.u0
    if norm == "linf":
        noise = {k: (torch.rand(v.shape, generator=gen) * 2 - 1) * eps for k, v in u0.items()}
    else:
        direction = step_direction(
            {k: torch.randn(v.shape, generator=gen) for k, v in u0.items()}, "l2"
        )
        radius = eps * torch.rand(len(next(iter(u0.values()))), generator=gen)
        noise = {k: d * _per_sample(radius, d) for k, d in direction.items()}
    return project({k: u0[k] + noise[k].to(u0[k].dtype) for k in u0}, obj, eps, norm)
