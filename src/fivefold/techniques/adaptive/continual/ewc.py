"""Elastic weight consolidation: the diagonal Fisher information and the quadratic penalty.

After training on a task, :func:`fisher_diagonal` estimates how much each parameter matters
to it, and :class:`EWCPenalty` pulls later training back towards the task's weights in
proportion: ``strength / 2 * sum_i F_i (θ_i - θ*_i)^2``. Several tasks combine either as one
penalty per task (:func:`merge_penalties` folds them into a single equivalent one) or as the
running online-EWC Fisher of :func:`merge_fisher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

from fivefold.data.task import Inputs, index_inputs, input_length
from fivefold.errors import ConfigError

__all__ = [
    "EWCPenalty",
    "anchor_of",
    "fisher_diagonal",
    "merge_fisher",
    "merge_penalties",
]


def anchor_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the model's trainable parameters, by name (the EWC anchor θ*)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _unsqueezed(x: Inputs) -> Inputs:
    if isinstance(x, dict):
        return {k: v.unsqueeze(0) for k, v in x.items()}
    return x.unsqueeze(0)


def _per_sample_vmap(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    x: Inputs,
    y: torch.Tensor,
    empirical: bool,
) -> dict[str, torch.Tensor]:
    """Sum over the batch of each sample's Fisher term, with ``torch.func`` (vmap + grad)."""

    def log_probs(p: dict[str, torch.Tensor], xi: Inputs) -> torch.Tensor:
        logits = functional_call(model, {**p, **buffers}, (_unsqueezed(xi),))
        return F.log_softmax(logits, dim=-1).squeeze(0)  # (C,)

    if empirical:

        def log_p_y(p: dict[str, torch.Tensor], xi: Inputs, yi: torch.Tensor) -> torch.Tensor:
            return log_probs(p, xi).gather(0, yi.view(1)).squeeze(0)

        grads = vmap(grad(log_p_y), in_dims=(None, 0, 0))(params, x, y)  # name → (B, *shape)
        return {n: (g**2).sum(dim=0) for n, g in grads.items()}
    jac = vmap(jacrev(log_probs), in_dims=(None, 0))(params, x)  # name → (B, C, *shape)
    with torch.no_grad():
        probs = vmap(log_probs, in_dims=(None, 0))(params, x).exp()  # (B, C)
    out = {}
    for n, j in jac.items():
        weight = probs.view(*probs.shape, *([1] * (j.dim() - 2)))
        out[n] = (weight * j**2).sum(dim=(0, 1))
    return out


def _per_sample_loop(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    x: Inputs,
    y: torch.Tensor,
    empirical: bool,
) -> dict[str, torch.Tensor]:
    """The same sum as :func:`_per_sample_vmap`, one ``autograd.grad`` per sample and class."""
    names = list(params)
    tensors = [params[n] for n in names]
    out = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(len(y)):
        log_p = F.log_softmax(model(index_inputs(x, slice(i, i + 1))), dim=-1).squeeze(0)
        if empirical:
            terms = [(int(y[i]), 1.0)]
        else:
            probs = log_p.detach().exp()
            terms = [(c, float(probs[c])) for c in range(len(log_p))]
        for k, (c, weight) in enumerate(terms):
            last = k == len(terms) - 1
            grads = torch.autograd.grad(log_p[c], tensors, retain_graph=not last, allow_unused=True)
            for n, g in zip(names, grads, strict=True):
                if g is not None:
                    out[n] += weight * g.detach() ** 2
    return out


def _rows(
    n: int, max_samples: int | None, generator: torch.Generator | None
) -> torch.Tensor | None:
    if max_samples is None or max_samples >= n:
        return None
    if max_samples < 1:
        raise ConfigError(f"fisher_diagonal: max_samples must be >= 1, got {max_samples}")
    if generator is None:
        return torch.arange(max_samples)
    return torch.randperm(n, generator=generator)[:max_samples].sort().values


def fisher_diagonal(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    *,
    batch_size: int,
    empirical: bool = False,
    max_samples: int | None = None,
    generator: torch.Generator | None = None,
    method: Literal["auto", "vmap", "loop"] = "auto",
) -> dict[str, torch.Tensor]:
    """The diagonal of the Fisher information of a classifier, per trainable parameter.

    The true Fisher (default) takes the expectation over the model's own predictive
    distribution, ``F = mean_x sum_c p(c|x) (d log p(c|x) / dθ)^2``; the empirical Fisher
    uses the labels, ``F = mean_x (d log p(y|x) / dθ)^2``. Both are exact per-sample
    averages (not squared batch gradients), computed in eval mode (dropout off, batch-norm
    running statistics); the model's mode is restored afterwards.

    ``method="vmap"`` vectorises over the samples of a batch with ``torch.func`` (``vmap``
    of ``grad``, or of ``jacrev`` for the C class gradients of the true Fisher, through
    ``functional_call``); ``"loop"`` calls ``torch.autograd.grad`` per sample (and class);
    ``"auto"`` tries vmap and falls back to the loop when the model cannot be vmapped.

    Args:
        model: maps (B, ...) inputs (a tensor or a dict) to (B, C) logits.
        x: (N, ...) inputs.
        y: (N,) labels (used only by the empirical Fisher).
        batch_size: samples per vectorised chunk (memory: B x C x parameters), >= 1.
        empirical: use the labels instead of the model's predictive distribution.
        max_samples: use at most this many samples: a random subset drawn with
            ``generator``, or the first ones when ``generator`` is None.
        generator: draws the subset.
        method: "auto", "vmap" or "loop".

    Returns:
        name → (detached) Fisher diagonal, shaped like the parameter, for every parameter
        with ``requires_grad``.

    Raises:
        ConfigError: ``batch_size < 1``, ``max_samples < 1`` or no samples.

    Reference: Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks",
    PNAS 2017; Kunstner et al., "Limitations of the Empirical Fisher Approximation for
    Natural Gradient Descent", NeurIPS 2019 (true vs empirical Fisher).
    """
    if batch_size < 1:
        raise ConfigError(f"fisher_diagonal: batch_size must be >= 1, got {batch_size}")
    n = input_length(x)
    if n == 0 or len(y) != n:
        raise ConfigError(f"fisher_diagonal: needs as many labels as inputs (> 0), got {n}")
    rows = _rows(n, max_samples, generator)
    if rows is not None:
        x, y = index_inputs(x, rows), y[rows]
        n = len(y)
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    was_training = model.training
    model.eval()
    try:
        total = {k: torch.zeros_like(p) for k, p in params.items()}
        for start in range(0, n, batch_size):
            part = slice(start, start + batch_size)
            xb, yb = index_inputs(x, part), y[part]
            total_b = _chunk(model, params, buffers, xb, yb, empirical, method)
            for k in total:
                total[k] += total_b[k]
    finally:
        model.train(was_training)
    return {k: v / n for k, v in total.items()}


def _chunk(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    x: Inputs,
    y: torch.Tensor,
    empirical: bool,
    method: str,
) -> dict[str, torch.Tensor]:
    if method == "loop":
        return _looped(model, x, y, empirical)
    if method == "vmap":
        return _per_sample_vmap(model, params, buffers, x, y, empirical)
    try:
        return _per_sample_vmap(model, params, buffers, x, y, empirical)
    except (RuntimeError, NotImplementedError):  # e.g. in-place ops or .item() in forward
        return _looped(model, x, y, empirical)


def _looped(
    model: nn.Module, x: Inputs, y: torch.Tensor, empirical: bool
) -> dict[str, torch.Tensor]:
    live = {k: p for k, p in model.named_parameters() if p.requires_grad}
    with torch.enable_grad():
        return _per_sample_loop(model, live, x, y, empirical)


class EWCPenalty:
    """``strength / 2 * sum_i F_i (θ_i - θ*_i)^2`` over the parameters named in ``fisher``.

    Args:
        fisher: name → Fisher diagonal (e.g. from :func:`fisher_diagonal`).
        anchor: name → the anchor weights θ* (e.g. from :func:`anchor_of`), same names.
        strength: λ, >= 0.

    Raises:
        ConfigError: a negative strength, or names or shapes of fisher and anchor differ.

    Reference: Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks",
    PNAS 2017.
    """

    def __init__(
        self,
        fisher: Mapping[str, torch.Tensor],
        anchor: Mapping[str, torch.Tensor],
        strength: float,
    ) -> None:
        if not strength >= 0:
            raise ConfigError(f"ewc: strength must be >= 0, got {strength}")
        if set(fisher) != set(anchor):
            raise ConfigError("ewc: fisher and anchor must name the same parameters")
        for k, f in fisher.items():
            if f.shape != anchor[k].shape:
                raise ConfigError(f"ewc: fisher and anchor of {k!r} differ in shape")
        self.fisher = {k: f.detach() for k, f in fisher.items()}
        self.anchor = {k: a.detach().clone() for k, a in anchor.items()}
        self.strength = float(strength)

    def __call__(self, model: nn.Module) -> torch.Tensor:
        """The penalty of ``model``'s current parameters (differentiable).

        Raises:
            ConfigError: the model lacks a parameter the penalty names.
        """
        params = dict(model.named_parameters())
        missing = sorted(set(self.fisher) - set(params))
        if missing:
            raise ConfigError(f"ewc: the model has no parameter {missing[0]!r} of the penalty")
        terms = [
            (self.fisher[k].to(p.device) * (p - self.anchor[k].to(p.device)) ** 2).sum()
            for k, p in params.items()
            if k in self.fisher
        ]
        if not terms:
            return torch.zeros(())
        return self.strength / 2 * torch.stack(terms).sum()


def merge_fisher(
    old: Mapping[str, torch.Tensor],
    new: Mapping[str, torch.Tensor],
    *,
    mode: Literal["sum", "online"],
    gamma: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Combine the Fisher of earlier tasks with the newest task's.

    ``"sum"``: ``F_old + F_new``; ``"online"``: ``gamma * F_old + F_new``, the decayed
    running Fisher of online EWC (Schwarz et al. 2018), used with a single anchor at the
    latest task's weights (so old tasks' importance fades by ``gamma`` per task; ``gamma =
    1`` is the sum). The sum with the latest anchor is the usual single-penalty
    simplification; the exact sum of one penalty per task, each with its own anchor, is
    :func:`merge_penalties`.

    Args:
        old: name → accumulated Fisher (same names as ``new``).
        new: name → the newest task's Fisher.
        mode: "sum" or "online".
        gamma: decay of the old Fisher in online mode, in [0, 1] (ignored by "sum").

    Returns:
        name → merged Fisher.

    Raises:
        ConfigError: unknown mode, gamma outside [0, 1], or the names differ.

    Reference: Schwarz et al., "Progress & Compress: A scalable framework for continual
    learning", ICML 2018 (online EWC).
    """
    if mode not in ("sum", "online"):
        raise ConfigError(f"ewc: mode must be 'sum' or 'online', got {mode!r}")
    if mode == "online" and not 0.0 <= gamma <= 1.0:
        raise ConfigError(f"ewc: gamma must be in [0, 1], got {gamma}")
    if set(old) != set(new):
        raise ConfigError("ewc: the Fisher dicts to merge must name the same parameters")
    decay = gamma if mode == "online" else 1.0
    return {k: decay * old[k] + new[k] for k in new}


def merge_penalties(penalties: Sequence[EWCPenalty]) -> EWCPenalty:
    """One penalty whose value differs from the sum of ``penalties`` by a constant.

    ``sum_t λ_t/2 F_t (θ - θ_t)^2 = 1/2 (sum_t λ_t F_t) (θ - θ̄)^2 + const`` with the
    Fisher-weighted mean anchor ``θ̄ = sum_t λ_t F_t θ_t / sum_t λ_t F_t`` (the last anchor
    where the total Fisher is 0), so both have the same gradient everywhere.

    Args:
        penalties: one or more penalties over the same parameter names.

    Returns:
        the merged penalty (strength 1; the strengths are folded into its Fisher).

    Raises:
        ConfigError: no penalties, or their names differ.
    """
    if not penalties:
        raise ConfigError("ewc: merge_penalties needs at least one penalty")
    names = set(penalties[0].fisher)
    if any(set(p.fisher) != names for p in penalties):
        raise ConfigError("ewc: the penalties to merge must name the same parameters")
    fisher: dict[str, torch.Tensor] = {}
    anchor: dict[str, torch.Tensor] = {}
    for k in penalties[0].fisher:
        weights = [p.strength * p.fisher[k] for p in penalties]
        total = torch.stack(weights).sum(dim=0)
        weighted = torch.stack([w * p.anchor[k] for w, p in zip(weights, penalties, strict=True)])
        mean = weighted.sum(dim=0) / total.clamp_min(torch.finfo(total.dtype).tiny)
        anchor[k] = torch.where(total > 0, mean, penalties[-1].anchor[k])
        fisher[k] = total
    return EWCPenalty(fisher, anchor, 1.0)
