"""The interpretability pillar: can the model's decisions be explained faithfully?

For ``n_samples`` stratified test inputs it computes attributions towards the predicted class
(Integrated Gradients, saliency, GradientShap, input x gradient) and scores each method:

- deletion / insertion AUC (RISE) against the same curves for a random unit order;
- ``faithfulness_gain`` = ½ [(random deletion AUC - deletion AUC) + (insertion AUC - random
  insertion AUC)]: 0 means no better than a random order, higher is more faithful;
- IG completeness error: mean |Σ attributions - (f(x) - f(b))| / mean |f(x) - f(b)|;
- max-sensitivity under small L∞ input perturbations (lower = more stable);
- model-randomisation Spearman correlation of |attributions| before and after re-initialising
  the weights, over units where the input differs from the baseline (lower = the method
  depends on the weights; a note flags values above 0.5).

Attributions are computed on ``inference_copy(subject.differentiable())`` (eval mode, batch norms
folded) and every random draw comes from a child seed of the trial seed: a seed repeats itself.

Headline: ``<first method>_faithfulness_gain`` (``ig_faithfulness_gain`` by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from fivefold.data.task import Split, Task
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, Subject
from fivefold.pillars.interpretability.attributions import (
    Tensors,
    batched_logits,
    convergence_delta,
)
from fivefold.pillars.interpretability.explanations import (
    Method,
    MethodSettings,
    Space,
    attribute,
    build_space,
    take,
)
from fivefold.pillars.interpretability.faithfulness import (
    Curves,
    Perturbed,
    max_sensitivity,
    perturbation_curves,
    random_scores,
    randomized_models,
    spearman,
    unit_scores,
)
from fivefold.pillars.interpretability.tables import curve_rows, example_rows
from fivefold.schema import option
from fivefold.seeding import torch_generator
from fivefold.training.forwards import inference_copy

__all__ = ["InterpretabilityConfig", "InterpretabilityPillar", "stratified_indices"]

PREFIX = {"integrated_gradients": "ig", "saliency": "saliency", "gradient_shap": "gradient_shap",
          "input_x_gradient": "input_x_gradient"}  # fmt: skip
HIGH_SPEARMAN = 0.5


@dataclass(frozen=True)
class InterpretabilityConfig:
    """Options of the ``interpretability`` pillar."""

    methods: tuple[Method, ...] = option(
        ("integrated_gradients", "saliency", "gradient_shap"),
        help="attribution methods; the first gives the headline faithfulness gain",
    )
    n_samples: int = option(64, help="test inputs explained (stratified by class, seeded)", min=2)
    ig_steps: int = option(50, help="Integrated Gradients integration steps", min=2)
    ig_method: Literal["gausslegendre", "riemann_trapezoid"] = option(
        "gausslegendre", help="Integrated Gradients quadrature rule"
    )
    baseline: Literal["auto", "zeros", "mean", "blur"] = option(
        "auto",
        help="reference input: auto = black image, training mean for sequences and tabular; "
        "text always uses padding tokens",
    )
    shap_samples: int = option(16, help="GradientShap draws per input", min=1)
    shap_noise: float = option(
        0.05, help="GradientShap input noise std, as a fraction of the input scale", min=0.0
    )
    shap_distribution: int = option(
        32, help="training inputs GradientShap draws its baselines from", min=1
    )
    deletion_steps: int = option(20, help="steps of the deletion and insertion curves", min=2)
    sensitivity_radius: float = option(
        0.02, help="max-sensitivity L∞ radius, as a fraction of the input scale", min=0.0
    )
    sensitivity_perturbations: int = option(
        5, help="max-sensitivity perturbations per input (0 = skip the metric)", min=0
    )
    sensitivity_samples: int = option(16, help="inputs scored for max-sensitivity", min=1)
    randomization: Literal["full", "cascade", "off"] = option(
        "full", help="model-randomisation check: all weights at once, cascading from the head, off"
    )
    n_examples: int = option(8, help="examples whose attributions go to the report", min=0)
    max_rows: int = option(4096, help="rows per batched forward/backward pass", min=1)

    def __post_init__(self) -> None:
        if not self.methods:
            raise ValueError("methods: give at least one attribution method")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods: {list(self.methods)} lists a method twice")

    def settings(self) -> MethodSettings:
        return MethodSettings(
            self.ig_steps, self.ig_method, self.shap_samples, self.shap_noise, self.max_rows
        )


def stratified_indices(y: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` random indices of labels ``y`` (N,), classes taking turns (one each, then two …)."""
    perm = torch.randperm(len(y), generator=generator)
    labels = y[perm]
    turn = torch.zeros_like(labels)
    for c in torch.unique(labels).tolist():
        mask = labels == c
        turn[mask] = torch.arange(int(mask.sum()))
    return perm[torch.argsort(turn, stable=True)[:n]]


@dataclass
class _Run:
    """One evaluation's shared state: what is explained and the per-method results."""

    config: InterpretabilityConfig
    task: Task
    split: Split
    distribution: Split
    space: Space
    target: Tensor
    seed: int
    scores: dict[Method, Tensor]
    metrics: dict[str, Metric]
    tables: dict[str, list[dict[str, Any]]]
    notes: list[str]

    def generator(self, *names: str) -> torch.Generator:
        return torch_generator(self.seed, "interpretability", *names)

    def add(self, name: str, value: float, higher_is_better: bool) -> None:
        """Record a metric; a non-finite value is left out with a note (JSON has no NaN)."""
        if not math.isfinite(value):
            self.notes.append(f"{name} is undefined here (e.g. no non-padding tokens); left out")
            return
        self.metrics[name] = Metric(float(value), higher_is_better)


def _faithfulness(run: _Run) -> None:
    """Deletion/insertion AUCs per method and for a random order, and the gains over random."""
    s, steps, rows = run.space, run.config.deletion_steps, run.config.max_rows
    setup = Perturbed(s.forward, s.inputs, s.baselines, s.extra, run.target, s.pool, s.valid)
    orders: dict[str, Tensor] = {"random": random_scores(s.valid, run.generator("random"))}
    orders |= {str(m): v for m, v in run.scores.items()}
    curves = {m: perturbation_curves(setup, sc, steps, rows) for m, sc in orders.items()}
    rand = curves["random"]
    run.add("random_deletion_auc", rand.deletion_auc(), False)
    run.add("random_insertion_auc", rand.insertion_auc(), True)
    for method in run.scores:
        _gains(run, PREFIX[method], curves[method], rand)
    run.tables["faithfulness_curves"] = curve_rows(curves)


def _gains(run: _Run, prefix: str, c: Curves, rand: Curves) -> None:
    """AUCs of one method and their gains over the random order."""
    deletion_gain = rand.deletion_auc() - c.deletion_auc()
    insertion_gain = c.insertion_auc() - rand.insertion_auc()
    run.add(f"{prefix}_deletion_auc", c.deletion_auc(), False)
    run.add(f"{prefix}_insertion_auc", c.insertion_auc(), True)
    run.add(f"{prefix}_deletion_gain", deletion_gain, True)
    run.add(f"{prefix}_insertion_gain", insertion_gain, True)
    run.add(f"{prefix}_insertion_minus_deletion", c.insertion_auc() - c.deletion_auc(), True)
    run.add(f"{prefix}_faithfulness_gain", (deletion_gain + insertion_gain) / 2, True)


def _completeness(run: _Run, attributions: Tensors) -> None:
    """IG's relative completeness error; a note when it exceeds 5 %."""
    s = run.space
    delta = convergence_delta(
        s.forward, s.inputs, s.baselines, attributions, run.target, extra=s.extra,
        max_rows=run.config.max_rows,
    )  # fmt: skip
    gap = torch.cat([a.flatten(1) for a in attributions], 1).sum(1) - delta  # f(x) - f(b)
    error = float(delta.abs().mean() / gap.abs().mean().clamp(min=1e-12))
    run.add("ig_completeness_error", error, False)
    if error > 0.05:
        run.notes.append(
            f"Integrated Gradients completeness error {error:.3f} > 0.05: raise ig_steps"
        )


def _sensitivity(run: _Run, method: Method) -> None:
    """Max-sensitivity of ``method`` on the first ``sensitivity_samples`` inputs."""
    cfg = run.config
    n = min(cfg.sensitivity_samples, len(run.target))
    sub, target = take(run.space, torch.arange(n)), run.target[:n]

    def explain(inputs: Tensors, rows: Tensor) -> Tensors:
        space = replace(take(sub, rows), inputs=inputs)
        return attribute(method, space, target[rows], cfg.settings(), run.generator(method, "sens"))

    radius = [cfg.sensitivity_radius * s for s in sub.scale]
    gen = run.generator(method, "perturb")
    worst = max_sensitivity(explain, sub.inputs, radius, cfg.sensitivity_perturbations, gen)
    run.add(f"{PREFIX[method]}_max_sensitivity", float(worst.mean()), False)


def _randomization(run: _Run, model: nn.Module) -> None:
    """Spearman correlation of |unit scores| before and after re-initialising the weights, over
    the units where the input differs from the baseline (elsewhere IG and input x gradient are 0
    whatever the weights, and those ties would inflate the correlation)."""
    cfg, rows, last = run.config, [], dict[str, float]()
    cascade = cfg.randomization == "cascade"
    diff = tuple((x - b).abs() for x, b in zip(run.space.inputs, run.space.baselines, strict=True))
    informative = run.space.valid & (unit_scores(diff, run.space.pool) > 0)
    for label, randomized in randomized_models(model, run.seed, cascade=cascade):
        space = build_space(randomized, run.task, run.split, cfg.baseline, run.distribution)
        for method, scores in run.scores.items():
            attrs = attribute(method, space, run.target, cfg.settings(), run.generator(method))
            rho = spearman(scores.abs(), unit_scores(attrs, space.pool).abs(), informative)
            last[method] = float(rho.nanmean())
            rows.append({"method": method, "randomized": label, "spearman": round(last[method], 4)})
    for name, value in last.items():
        run.add(f"{PREFIX[name]}_randomization_spearman", value, False)
        if value > HIGH_SPEARMAN:
            run.notes.append(
                f"{name}: attributions barely change when the model's weights are randomised "
                f"(Spearman {value:.2f} > {HIGH_SPEARMAN}); they may not explain the model"
            )
    run.tables["randomization"] = rows


def _start(model: nn.Module, task: Task, cfg: InterpretabilityConfig, seed: int) -> _Run:
    """Pick the samples, build their attribution space and the predicted classes."""
    split = task.test.subset(
        stratified_indices(
            task.test.y, cfg.n_samples, torch_generator(seed, "interpretability", "samples")
        )
    )
    gen = torch_generator(seed, "interpretability", "distribution")
    dist = task.train.subset(
        torch.randperm(len(task.train), generator=gen)[: cfg.shap_distribution]
    )
    space = build_space(model, task, split, cfg.baseline, dist)
    target = batched_logits(space.forward, space.inputs, space.extra, cfg.max_rows).argmax(1)
    return _Run(cfg, task, split, dist, space, target, seed, {}, {}, {}, [])


def evaluate_interpretability(
    model: nn.Module, task: Task, cfg: InterpretabilityConfig, seed: int
) -> PillarResult:
    """Attributions of ``model`` on ``task``'s test split and their quality metrics."""
    run = _start(model, task, cfg, seed)
    attrs = {
        m: attribute(m, run.space, run.target, cfg.settings(), run.generator(m))
        for m in cfg.methods
    }
    run.scores = {m: unit_scores(a, run.space.pool) for m, a in attrs.items()}
    _faithfulness(run)
    if "integrated_gradients" in attrs:
        _completeness(run, attrs["integrated_gradients"])
    for method in cfg.methods if cfg.sensitivity_perturbations > 0 else ():
        _sensitivity(run, method)
    if cfg.randomization != "off":
        _randomization(run, model)
    logits = batched_logits(run.space.forward, run.space.inputs, run.space.extra, cfg.max_rows)
    prob = logits.softmax(1).gather(1, run.target[:, None])[:, 0]
    unit = {str(m): u for m, u in run.scores.items()}
    run.tables["examples"] = example_rows(
        task, run.split, run.space, unit, target=run.target, prob=prob, n_examples=cfg.n_examples
    )
    return PillarResult(
        f"{PREFIX[cfg.methods[0]]}_faithfulness_gain", run.metrics, run.tables, run.notes
    )


@PILLARS.register(
    "interpretability",
    help="attribution faithfulness (deletion/insertion vs random), IG completeness, "
    "max-sensitivity and model-randomisation checks",
)
class InterpretabilityPillar(Pillar):
    """Integrated Gradients, saliency and GradientShap, scored for faithfulness and stability.

    Reference: Petsiuk et al. 2018 (RISE deletion/insertion); Sundararajan et al. 2017 (IG);
    Yeh et al. 2019 (max-sensitivity); Adebayo et al. 2018 (sanity checks).
    """

    Config = InterpretabilityConfig

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        # what gradients go through (one model or the members' mean), copied with folded norms
        model = inference_copy(subject.differentiable())
        result = evaluate_interpretability(model, task, self.config, seed)
        if subject.combiner.note and len(subject.members) > 1:
            result.notes.append(f"{subject.combiner.note}; the attributions explain that mean")
        return result
