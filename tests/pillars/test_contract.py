"""The contract every registered pillar keeps, on a tiny task of every input kind.

A pillar must: give the same result for the same seed; return JSON-ready results whose metrics
are finite and whose headline is among them; score a subject of two members whose
probabilities are averaged (no logits: nothing computed from logits it lacks, an energy score
skipped with a note); and score a subject that adapts while it is evaluated without being
served stale outputs. A pillar computed from refit trials is run here with a tiny refit
callable and checked on its result from refit scores.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from typing import Any

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.task import Inputs, Task
from fivefold.models import MODELS, build_model, default_model_name, prepare_task
from fivefold.pillars import PILLARS, Subject
from fivefold.schema import build
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext
from fivefold.training.predict import predict_logits
from fivefold.training.subject import Refit

KINDS = ("image", "sequence", "tabular", "text")
CASES = [(name, kind) for name in PILLARS.names() for kind in KINDS]
QUICK: dict[str, dict[str, Any]] = {
    "data_efficiency": {"fractions": [0.5, 1.0]},
    "interpretability": {"n_samples": 6, "ig_steps": 4, "shap_samples": 2, "deletion_steps": 4,
                         "sensitivity_perturbations": 1, "sensitivity_samples": 2,
                         "n_examples": 1},
    "robustness": {"severities": [2], "eps_linf": [0.1], "eps_l2": [0.5], "pgd_steps": 2,
                   "apgd_steps": 2, "max_attack_samples": 12, "max_corruption_samples": 24,
                   "text_budget": 1, "text_candidates": 2},
    "safety": {"ood_max_samples": 20},
}  # fmt: skip


@functools.cache
def trained(kind: str) -> tuple[Task, tuple[nn.Module, nn.Module]]:
    """The tiny task of ``kind`` prepared for its default model, and two such models trained
    for two epochs from seeds 0 and 1."""
    name = default_model_name(tiny_task(kind))
    spec = MODELS.spec_of(name, build(MODELS.get(name).config_cls, {}, "model"))
    task = prepare_task(spec, tiny_task(kind))
    train = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False}, "train")
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(fit(build_model(spec, task), task, FitContext(train, seed)).model.eval())
    return task, (members[0], members[1])


def refit(kind: str) -> Refit:
    """A stand-in for retraining on a label fraction (for data efficiency): the second model."""
    return lambda fraction, seed: trained(kind)[1][1]


def evaluate(name: str, subject: Subject, task: Task, seed: int = 0) -> dict[str, Any]:
    (spec,) = PILLARS.specs({name: QUICK.get(name, {})})
    result: dict[str, Any] = spec.instantiate().evaluate(subject, task, seed).to_json()
    json.dumps(result)  # plain JSON, as result.json holds it (tables may hold NaN, metrics not)
    assert result["headline"] in result["metrics"]
    assert all(math.isfinite(m["value"]) for m in result["metrics"].values())
    return result


def _last_linear(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


class Watchful(Subject):
    """Adapts before every new input (raises class 0's bias, as test-time adaptation changes a
    model) and checks that every output it serves is the current model's."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.adaptations = self.stale = 0

    def adapt(self, x: Inputs) -> None:
        self.adaptations += 1
        with torch.no_grad():
            _last_linear(self.model).bias[0] += 0.05

    def _check(self, served: torch.Tensor, x: Inputs) -> torch.Tensor:
        self.stale += not torch.equal(served, predict_logits(self.model, x, self.eval_batch_size))
        return served

    def logits(self, x: Inputs) -> torch.Tensor:
        return self._check(super().logits(x), x)

    def predict_proba(self, x: Inputs) -> torch.Tensor:
        out = super().predict_proba(x)
        self._check(super().logits(x), x)  # the memo's entry: no new adaptation
        return out

    def predict(self, x: Inputs) -> torch.Tensor:
        out = super().predict(x)
        self._check(super().logits(x), x)
        return out


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_same_seed_same_result(name: str, kind: str) -> None:
    task, (model, _) = trained(kind)
    first = evaluate(name, Subject(model, refit(kind)), task, seed=3)
    again = evaluate(name, Subject(model, refit(kind)), task, seed=3)
    assert json.dumps(again) == json.dumps(first)  # as text: a NaN in a table equals itself


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_two_members(name: str, kind: str) -> None:
    task, members = trained(kind)
    result = evaluate(name, Subject(list(members), refit(kind)), task)
    assert not any("energy" in metric for metric in result["metrics"])  # needs logits
    if "ood_auroc_msp" in result["metrics"]:
        assert any("energy OOD score skipped" in note for note in result["notes"])


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_adapting_subject(name: str, kind: str) -> None:
    task, (model, _) = trained(kind)
    subject = Watchful(copy.deepcopy(model))
    subject.refit = refit(kind)
    evaluate(name, subject, task)
    assert subject.stale == 0
    if name in ("generalization", "safety", "robustness", "data_efficiency"):
        assert subject.adaptations > 0  # these predict through the subject


@pytest.mark.parametrize("name", PILLARS.names())
def test_refit_plan(name: str) -> None:
    (spec,) = PILLARS.specs({name: QUICK.get(name, {})})
    pillar = spec.instantiate()
    fractions = pillar.refit_fractions()
    if not pillar.needs_refits:
        assert fractions == ()
        return
    assert fractions and all(0 < f < 1 for f in fractions) and list(fractions) == sorted(fractions)
    assert all(pillar.refit_epochs(10, f) >= 10 for f in fractions)
    scores = {1.0: {"test_accuracy": 0.9}} | {f: {"test_accuracy": 0.5} for f in fractions}
    result = pillar.from_refits(scores).to_json()
    json.dumps(result)
    assert result["headline"] in result["metrics"]
    partial = pillar.from_refits({1.0: {"test_accuracy": 0.9}}).to_json()
    assert any("partial" in note for note in partial["notes"])
