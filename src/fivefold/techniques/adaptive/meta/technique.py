"""The ``meta`` technique: meta-learning for few-shot classification on held-out classes.

The task's classes are split once (``class_seed``, the same for every recipe and seed) into
meta-train and meta-test classes. The model meta-learns an initialisation on N-way K-shot
episodes of the meta-train classes' training rows (MAML, first-order MAML or Reptile,
:mod:`.learners`); then few-shot accuracy is measured on episodes of the meta-test classes
(support rows from the training split, query rows from the test split), and on the same
episodes two baselines: a freshly initialised model fine-tuned on the support set, and a
logistic-regression probe on the features of a model trained conventionally on the
meta-train classes. Finally the meta-learned weights are trained on the whole task as usual,
and that model is what the pillars score (a meta-learned initialisation is a starting point).

Few-shot accuracies join the generalization pillar as ``fewshot_<N>way_<K>shot_*``.

References: Finn, Abbeel & Levine, "Model-agnostic meta-learning for fast adaptation of deep
networks", ICML 2017; Nichol, Achiam & Schulman, "On first-order meta-learning algorithms",
2018; Tian et al., "Rethinking few-shot image classification: a good embedding is all you
need?", ECCV 2020 (the pretrained linear-probe baseline).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.schema import option, to_dict
from fivefold.seeding import child_seed
from fivefold.techniques.adaptive.meta.baselines import (
    features_of,
    finetune_from_scratch,
    linear_probe,
)
from fivefold.techniques.adaptive.meta.episodes import EpisodeSampler, split_classes
from fivefold.techniques.adaptive.meta.learners import MetaLearner
from fivefold.training.hooks import FitContext, FitFn, FitResult, Technique

__all__ = ["Meta", "MetaConfig"]


@dataclass(frozen=True)
class MetaConfig:
    """The meta-learner, its episodes and the few-shot evaluation."""

    method: Literal["maml", "fomaml", "reptile"] = option(
        "maml",
        help="maml: second-order MAML; fomaml: first-order MAML; reptile: Reptile",
    )
    ways: int = option(5, help="classes per episode (N-way)", min=2, max=100)
    shots: int = option(5, help="support rows per class while meta-training", min=1, max=100)
    queries: int = option(15, help="query rows per class of an episode", min=1, max=500)
    test_classes: int = option(
        5, help="classes held out of meta-training for the few-shot evaluation", min=2
    )
    class_seed: int = option(
        0, help="seed of the meta-train / meta-test class split (shared by all trials)", min=0
    )
    iterations: int = option(1000, help="meta-training steps", min=1, max=10**7)
    meta_batch: int = option(4, help="episodes per meta-step", min=1, max=1024)
    inner_lr: float = option(0.1, help="inner SGD step size α", min=0.0, exclusive_min=True)
    inner_steps: int = option(1, help="inner SGD steps while meta-training", min=1, max=100)
    meta_lr: float = option(
        1e-3, help="maml/fomaml: Adam learning rate of the outer step", min=0.0, exclusive_min=True
    )
    reptile_step: float = option(
        0.1, help="reptile: outer step size ε", min=0.0, max=1.0, exclusive_min=True
    )
    eval_shots: tuple[int, ...] = option(
        (1, 5), help="shots of the few-shot evaluation on the held-out classes"
    )
    eval_episodes: int = option(100, help="episodes per few-shot evaluation", min=1)
    eval_steps: int = option(
        10, help="SGD steps on the support set at evaluation (meta-learner)", min=0, max=1000
    )
    scratch_steps: int = option(
        100, help="full-batch Adam steps of the from-scratch baseline on a support set", min=1
    )
    scratch_lr: float = option(
        1e-2, help="learning rate of the from-scratch baseline", min=0.0, exclusive_min=True
    )
    probe_l2: float = option(1e-2, help="L2 penalty of the linear-probe baseline", min=0.0)


def _held_out(task: Task, classes: Sequence[int]) -> Task:
    """The task restricted to ``classes`` (train and val rows; test kept for shape)."""
    keep = torch.tensor(list(classes))
    splits = {}
    for name in ("train", "val", "test"):
        split = task.splits[name]
        rows = torch.nonzero(torch.isin(split.y, keep)).flatten()
        splits[name] = split.subset(rows)
    return dataclasses.replace(task, splits=splits, shifts={})


def _summary(acc: np.ndarray) -> dict[str, float]:
    """Mean accuracy over episodes and the half-width of its 95 % interval."""
    mean = float(acc.mean())
    half = 1.96 * float(acc.std(ddof=1)) / math.sqrt(len(acc)) if len(acc) > 1 else float("nan")
    return {"mean": mean, "ci95": half}


class Meta(Technique):
    """``meta``: MAML, first-order MAML or Reptile on N-way K-shot episodes of meta-train
    classes, few-shot accuracy on held-out classes beside fine-tuning from scratch and a
    pretrained linear probe, then ordinary training of the meta-learned weights (see the
    module docstring).

    Reports under ``techniques.meta``: the class split, meta-training loss and seconds, and per
    evaluated shot count the accuracy of the meta-learner and both baselines (mean and 95 %
    interval over episodes).

    Reference: Finn et al., ICML 2017; Nichol et al. 2018; Tian et al., ECCV 2020.
    """

    Config = MetaConfig
    modalities: ClassVar[frozenset[Any]] = frozenset({"image", "sequence", "tabular"})
    conflicts: ClassVar[frozenset[str]] = frozenset({"ensemble", "continual", "fusion"})
    quick: ClassVar[dict[str, Any]] = {
        "iterations": 3,
        "eval_episodes": 3,
        "eval_steps": 2,
        "scratch_steps": 3,
        "ways": 2,
        "test_classes": 2,
        "shots": 1,
        "queries": 2,
        "eval_shots": (1,),
    }

    min_classes: ClassVar[int] = 4
    """Classes a task needs for the quick options: two to meta-train on, two held out."""

    def __init__(self, name: str, config: MetaConfig) -> None:
        super().__init__(name, config)
        self.config: MetaConfig = config

    @classmethod
    def check_task(cls, config: MetaConfig, task: Task) -> None:
        """Plan time: one tensor input, enough classes on both sides of the split and enough
        rows per class for an episode."""
        if task.multimodal:
            raise ConfigError(
                f"meta needs a single-input task and {task.name!r} has "
                f"{', '.join(task.inputs)}: keep one with data.inputs"
            )
        c = task.n_classes
        if config.test_classes >= c or c - config.test_classes < config.ways:
            raise ConfigError(
                f"meta: {task.name!r} has {c} classes; holding out test_classes = "
                f"{config.test_classes} leaves {c - config.test_classes} for {config.ways}-way "
                f"meta-training: lower ways or test_classes (ways <= classes - test_classes)"
            )
        if config.test_classes < config.ways:
            raise ConfigError(
                f"meta: test_classes = {config.test_classes} is fewer than ways = "
                f"{config.ways}; an evaluation episode needs {config.ways} held-out classes"
            )
        need = max((config.shots, *config.eval_shots)) + config.queries
        counts = torch.bincount(task.train.y, minlength=c)
        small = [i for i in range(c) if int(counts[i]) < need]
        if small:
            k = small[0]
            raise ConfigError(
                f"meta: class {task.class_names[k]!r} has {int(counts[k])} training rows and an "
                f"episode needs {need} (shots + queries): lower shots, eval_shots or queries"
            )
        if any(s < 1 for s in config.eval_shots) or not config.eval_shots:
            raise ConfigError("meta.eval_shots: list one or more shot counts >= 1, e.g. [1, 5]")

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Meta-train, evaluate few-shot, then train the meta-learned weights on the task."""

        def fit_meta(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            report: dict[str, Any] = ctx.extras.setdefault(self.name, {})
            report.update(self._few_shot(fit, model, task, ctx))
            return fit(model, task, ctx)

        return fit_meta

    def _few_shot(
        self, fit: FitFn, model: nn.Module, task: Task, ctx: FitContext
    ) -> dict[str, Any]:
        cfg = self.config
        train_classes, test_classes = split_classes(
            task.n_classes, cfg.test_classes, cfg.class_seed
        )
        x, y = task.train.x, task.train.y
        assert isinstance(x, torch.Tensor)
        sampler = EpisodeSampler(
            x,
            y,
            train_classes,
            ways=cfg.ways,
            shots=cfg.shots,
            queries=cfg.queries,
            seed=child_seed(ctx.seed, "meta_train"),
        )
        learner = MetaLearner(
            model,
            method=cfg.method,
            ways=cfg.ways,
            inner_lr=cfg.inner_lr,
            inner_steps=cfg.inner_steps,
            meta_lr=cfg.meta_lr,
            meta_batch=cfg.meta_batch,
            reptile_step=cfg.reptile_step,
            seed=ctx.seed,
        )
        template = copy.deepcopy(model)
        start = time.perf_counter()
        losses = learner.fit(sampler.sample_batch, cfg.iterations)
        meta_s = time.perf_counter() - start
        self._copy_back(learner.model, model)
        pretrained = self._pretrained(fit, task, train_classes, ctx, template)
        features = features_of(pretrained.eval())
        test_x, test_y = task.test.x, task.test.y
        assert isinstance(test_x, torch.Tensor)
        results: dict[str, Any] = {}
        metrics: dict[str, dict[str, Any]] = {}
        for shots in cfg.eval_shots:
            episodes = EpisodeSampler(
                x,
                y,
                test_classes,
                ways=cfg.ways,
                shots=shots,
                queries=cfg.queries,
                seed=child_seed(cfg.class_seed, "meta_eval", shots),
                query_x=test_x,
                query_y=test_y,
            ).sample_batch(cfg.eval_episodes)
            factory = _factory(ctx, template)
            scores = {
                cfg.method: learner.evaluate(episodes, steps=cfg.eval_steps),
                "scratch": finetune_from_scratch(
                    factory,
                    episodes,
                    steps=cfg.scratch_steps,
                    lr=cfg.scratch_lr,
                    ways=cfg.ways,
                    seed=child_seed(ctx.seed, "scratch", shots),
                ),
                "pretrained_probe": linear_probe(
                    features, episodes, ways=cfg.ways, l2=cfg.probe_l2
                ),
            }
            key = f"{cfg.ways}way_{shots}shot"
            results[key] = {name: _summary(acc) for name, acc in scores.items()}
            for name, acc in scores.items():
                suffix = "accuracy" if name == cfg.method else f"{name}_accuracy"
                metrics[f"fewshot_{key}_{suffix}"] = {
                    "value": float(acc.mean()),
                    "higher_is_better": True,
                }
        return {
            **to_dict(cfg),
            "meta_train_classes": [task.class_names[c] for c in train_classes],
            "meta_test_classes": [task.class_names[c] for c in test_classes],
            "meta_seconds": meta_s,
            "meta_loss_first": float(np.mean(losses[: max(1, len(losses) // 10)])),
            "meta_loss_last": float(np.mean(losses[-max(1, len(losses) // 10) :])),
            "few_shot": results,
            "pillar_metrics": {"generalization": metrics},
        }

    @staticmethod
    def _copy_back(learnt: nn.Module, model: nn.Module) -> None:
        """The meta-learned parameters into the trial's model (the learner worked on a copy
        whose normalisation layers were swapped for vmap-safe ones with the same names)."""
        learnt_params = dict(learnt.named_parameters())
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in learnt_params and learnt_params[name].shape == param.shape:
                    param.copy_(learnt_params[name])

    def _pretrained(
        self,
        fit: FitFn,
        task: Task,
        classes: Sequence[int],
        ctx: FitContext,
        template: nn.Module,
    ) -> nn.Module:
        """A model trained conventionally on the meta-train classes (the probe's backbone)."""
        seed = child_seed(ctx.seed, "pretrained")
        child = ctx.for_member("pretrained", seed)
        child = dataclasses.replace(child, techniques=())
        return fit(_factory(ctx, template)(seed), _held_out(task, classes), child).model


def _factory(ctx: FitContext, template: nn.Module) -> Callable[[int], nn.Module]:
    """``seed -> fresh model``: the trial's factory, or ``template`` re-initialised (a plain
    ``fit`` call has no factory)."""
    if ctx.build_model is not None:
        return ctx.build_model

    def fresh(seed: int) -> nn.Module:
        model = copy.deepcopy(template)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in model.modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
        return model

    return fresh
