"""Is an attribution faithful to the model? Deletion/insertion curves, max-sensitivity and the
model-randomisation sanity check, all batched over samples (and steps).

Attributions are compared at the level of *units*: one unit per element of each attributed
tensor, except that an axis may be pooled into one unit (an image's channels → one unit per
pixel; a token's embedding dimensions → one unit per token). ``pool[i]`` names that axis of
input ``i`` (per sample, without the batch axis) or is None. ``valid`` (B, U) marks the units
that take part (e.g. not padding tokens).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fivefold.pillars.interpretability.attributions import (
    DEFAULT_MAX_ROWS,
    Forward,
    Tensors,
    batched_logits,
)

__all__ = [
    "Curves",
    "Perturbed",
    "Pool",
    "expand_units",
    "max_sensitivity",
    "perturbation_curves",
    "random_scores",
    "randomized_models",
    "spearman",
    "unit_scores",
]

Pool = tuple[int | None, ...]
Explain = Callable[[Tensors, Tensor], Tensors]
"""``explain(inputs, rows)``: attributions of ``inputs`` (N, ...) whose row ``i`` is a copy (or
a perturbation) of sample ``rows[i]`` of the original batch."""


def _unit_shape(x: Tensor, axis: int | None) -> list[int]:
    shape = list(x.shape[1:])
    if axis is not None:
        shape[axis] = 1
    return shape


def unit_scores(attributions: Tensors, pool: Pool) -> Tensor:
    """(B, U) per-unit scores: attributions summed over each input's pooled axis, flattened."""
    parts = [
        a.flatten(1) if axis is None else a.sum(dim=axis % (a.dim() - 1) + 1).flatten(1)
        for a, axis in zip(attributions, pool, strict=True)
    ]
    return torch.cat(parts, dim=1)


def expand_units(mask: Tensor, inputs: Tensors, pool: Pool) -> Tensors:
    """(N, U) unit mask → one mask per input, broadcastable to (N, ...) of that input."""
    out, offset = [], 0
    for x, axis in zip(inputs, pool, strict=True):
        shape = _unit_shape(x, axis)
        size = math.prod(shape)
        out.append(mask[:, offset : offset + size].reshape(-1, *shape))
        offset += size
    return tuple(out)


def _ranks(scores: Tensor, valid: Tensor) -> Tensor:
    """(B, U) position of each unit in descending score order; invalid units come last."""
    order = scores.masked_fill(~valid, -math.inf).argsort(dim=1, descending=True, stable=True)
    return order.argsort(dim=1)


@dataclass(frozen=True)
class Curves:
    """Target-class probability as units are deleted (or inserted), most important first.

    Attributes:
        fractions: (K + 1,) fraction of valid units replaced, 0 … 1.
        deletion: (B, K + 1) probability when that fraction is replaced by the baseline.
        insertion: (B, K + 1) probability when that fraction is revealed on the baseline.
    """

    fractions: Tensor
    deletion: Tensor
    insertion: Tensor

    def deletion_auc(self) -> float:
        """Mean area under the deletion curves (lower = more faithful)."""
        return float(torch.trapezoid(self.deletion, self.fractions, dim=1).mean())

    def insertion_auc(self) -> float:
        """Mean area under the insertion curves (higher = more faithful)."""
        return float(torch.trapezoid(self.insertion, self.fractions, dim=1).mean())


@dataclass(frozen=True)
class Perturbed:
    """What a curve perturbs: inputs and baselines (B, ...), extra args, targets, unit layout."""

    forward: Forward
    inputs: Tensors
    baselines: Tensors
    extra: Tensors
    target: Tensor
    pool: Pool
    valid: Tensor


def _tile(t: Tensor, n: int) -> Tensor:
    """(B, ...) → (n·B, ...): ``n`` stacked copies."""
    return t.repeat(n, *[1] * (t.dim() - 1))


def _curve(setup: Perturbed, taken: Tensor, insertion: bool, max_rows: int) -> Tensor:
    """(B, K + 1) target probabilities; ``taken`` (K + 1, B, U) marks the units moved."""
    steps = len(taken)
    masks = expand_units(taken.flatten(0, 1), setup.inputs, setup.pool)
    points = []
    for m, x, b in zip(masks, setup.inputs, setup.baselines, strict=True):
        x_rep, b_rep = _tile(x, steps), _tile(b.expand_as(x), steps)
        points.append(torch.where(m, x_rep, b_rep) if insertion else torch.where(m, b_rep, x_rep))
    extra = tuple(_tile(e, steps) for e in setup.extra)
    logits = batched_logits(setup.forward, tuple(points), extra, max_rows)
    probs = logits.softmax(1).gather(1, setup.target.repeat(steps)[:, None])
    return probs.view(steps, -1).T


def perturbation_curves(
    setup: Perturbed, scores: Tensor, steps: int = 20, max_rows: int = DEFAULT_MAX_ROWS
) -> Curves:
    """Deletion and insertion curves of the unit ordering given by ``scores`` (B, U).

    At step k the ``round(k / steps · n_valid)`` highest-scoring valid units are replaced by the
    baseline (deletion) or revealed on top of the baseline (insertion); all (steps + 1) x B
    perturbed inputs are evaluated in batched forward passes.

    Reference: Petsiuk, Das & Saenko, "RISE: randomized input sampling for explanation of
    black-box models", BMVC 2018 (deletion and insertion metrics).
    """
    fractions = torch.linspace(0, 1, steps + 1)
    counts = (fractions[:, None] * setup.valid.sum(1)[None, :]).round()  # (K + 1, B)
    taken = _ranks(scores, setup.valid)[None] < counts[..., None]  # (K + 1, B, U)
    deletion = _curve(setup, taken, insertion=False, max_rows=max_rows)
    insertion = _curve(setup, taken, insertion=True, max_rows=max_rows)
    return Curves(fractions, deletion, insertion)


def random_scores(valid: Tensor, generator: torch.Generator) -> Tensor:
    """(B, U) scores giving a uniformly random unit order (the random-order baseline)."""
    scores: Tensor = torch.rand(valid.shape, generator=generator)
    return scores


def _flat_norm(ts: Tensors) -> Tensor:
    norms: Tensor = torch.cat([t.flatten(1) for t in ts], dim=1).norm(dim=1)
    return norms


def max_sensitivity(
    explain: Explain,
    inputs: Tensors,
    radius: Sequence[float],
    n_perturb: int,
    generator: torch.Generator,
) -> Tensor:
    """(B,) max over ``n_perturb`` uniform L∞ perturbations δ (|δ_i| ≤ radius[i] per input i)
    of ‖attr(x + δ) - attr(x)‖₂ / ‖attr(x)‖₂; all perturbations explained in one call.

    Reference: Yeh et al., "On the (in)fidelity and sensitivity of explanations", NeurIPS
    2019; captum's ``sensitivity_max`` (Frobenius norm, normalised by the attribution norm).
    """
    n = len(inputs[0])
    base = explain(inputs, torch.arange(n))
    rows = torch.arange(n).repeat(n_perturb)  # perturbation-major
    noisy = tuple(
        _tile(x, n_perturb)
        + (2 * torch.rand((n_perturb * n, *x.shape[1:]), generator=generator) - 1) * r
        for x, r in zip(inputs, radius, strict=True)
    )
    diff = _flat_norm(tuple(a - b[rows] for a, b in zip(explain(noisy, rows), base, strict=True)))
    norm = _flat_norm(base)
    norm = torch.where(norm == 0, torch.ones_like(norm), norm)
    return (diff.view(n_perturb, n) / norm).amax(0)


def _average_ranks(v: Tensor) -> Tensor:
    """Ranks 1 … n of a 1-D tensor, ties sharing their average rank."""
    _, inverse, counts = torch.unique(v, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks: Tensor = (ends - (counts.double() - 1) / 2)[inverse]
    return ranks


def spearman(a: Tensor, b: Tensor, valid: Tensor) -> Tensor:
    """(B,) Spearman rank correlation of rows of ``a`` and ``b`` (B, U) over their valid units
    (tie-aware); NaN for a row with fewer than two units or a constant row.

    Reference: Spearman, "The proof and measurement of association between two things", 1904.
    """
    out = torch.full((len(a),), math.nan, dtype=torch.float64)
    for i in range(len(a)):
        if int(valid[i].sum()) < 2:
            continue
        ra, rb = _average_ranks(a[i][valid[i]]), _average_ranks(b[i][valid[i]])
        ra, rb = ra - ra.mean(), rb - rb.mean()
        denom = ra.norm() * rb.norm()
        if denom > 0:
            out[i] = (ra * rb).sum() / denom
    return out


def _parameterized(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules owning parameters directly, in registration (≈ forward) order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if next(m.parameters(False), None) is not None
    ]


def _reinitialize(module: nn.Module) -> None:
    """Draw fresh weights with the module's own initialiser (N(0, 0.02²) when it has none)."""
    reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
    if callable(reset):
        reset()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, 0.02)


def randomized_models(
    model: nn.Module, seed: int, cascade: bool = False, max_points: int = 6
) -> Iterator[tuple[str, nn.Module]]:
    """Deep copies of ``model`` with re-initialised weights, as (label, model).

    Without ``cascade``: one copy, every parameterised module re-initialised (label "all").
    With it: cascading from the head, copies whose top-k modules are re-initialised, for at
    most ``max_points`` values of k ending with all of them (label: the deepest module reached).
    The caller's random state is untouched.

    Reference: Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018.
    """
    n_modules = len(_parameterized(model))
    if n_modules == 0:
        return
    ks = [n_modules] if not cascade else _cascade_points(n_modules, max_points)
    for k in ks:
        clone = copy.deepcopy(model)
        chosen = _parameterized(clone)[-k:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _, module in reversed(chosen):
                _reinitialize(module)
        yield ("all" if k == n_modules and not cascade else chosen[0][0] or "model"), clone


def _cascade_points(n: int, max_points: int) -> list[int]:
    """At most ``max_points`` increasing k in 1 … n, always including 1 and n."""
    if n <= max_points:
        return list(range(1, n + 1))
    return sorted({round(1 + i * (n - 1) / (max_points - 1)) for i in range(max_points)})
