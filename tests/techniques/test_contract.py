"""The contract every registered technique keeps, checked on every modality it supports.

A technique must: document itself (a ``Reference:`` and help for every option); build from an
empty table and from its ``quick`` options; train a default model on a tiny task of each
supported modality to finite logits; be deterministic for a seed; leave the task's tensors
untouched; compose with every other technique it does not declare a conflict with; and hand the
pillars a Subject of valid class probabilities from ``adapt_subject``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from pathlib import Path

import pytest
import torch
from support import tiny_task

from fivefold.catalog import explain
from fivefold.data.task import Task
from fivefold.models import build_model, default_model_name, prepare_task
from fivefold.models.base import MODELS
from fivefold.runner.trial import _fresh_model
from fivefold.schema import build, describe
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.base import TechniqueSpec, check_recipe, check_task
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext
from fivefold.training.subject import Subject

NAMES = TECHNIQUES.names()
KINDS = ("image", "sequence", "tabular", "text")
CASES = [(n, k) for n in NAMES for k in KINDS if k in TECHNIQUES.get(n).modalities]
PAIRS = [
    (a, b)
    for a, b in itertools.permutations(NAMES, 2)
    if b not in TECHNIQUES.get(a).conflicts
    and a not in TECHNIQUES.get(b).conflicts
    and not (TECHNIQUES.get(a).owns_loss and TECHNIQUES.get(b).owns_loss)
]


def contract_task(kind: str, *names: str) -> Task:
    """The tiny task of ``kind``; with two inputs "a" and "b" of that kind (the same classes
    drawn twice, text in one vocabulary) when a technique needs several (``min_inputs``)."""
    first = tiny_task(kind)
    if max(getattr(TECHNIQUES.get(n), "min_classes", 2) for n in names) > first.n_classes:
        return _six_classes(first, tiny_task(kind, seed=1))
    if max(getattr(TECHNIQUES.get(n), "min_inputs", 1) for n in names) < 2:
        return first
    second = tiny_task(kind, seed=1)

    def x_of(split: str) -> dict[str, torch.Tensor]:
        other = second.splits[split]
        b = first.text_encoder(other.texts or ()) if first.text_encoder else other.x
        return {"a": first.splits[split].x, "b": b}

    splits = {n: dataclasses.replace(s, x=x_of(n)) for n, s in first.splits.items()}
    inputs = {"a": first.inputs["x"], "b": first.inputs["x"]}
    return dataclasses.replace(first, name=f"{first.name}-pair", splits=splits, inputs=inputs)


def _six_classes(first: Task, second: Task) -> Task:
    """Two tiny tasks side by side, the second's classes renumbered 3..5 (for techniques that
    hold classes out, ``min_classes``)."""
    splits = {}
    for name, a in first.splits.items():
        b = second.splits[name]
        assert isinstance(a.x, torch.Tensor) and isinstance(b.x, torch.Tensor)
        x = torch.cat([a.x, b.x.flip(-1)])  # the second task's pattern mirrored: new classes
        splits[name] = dataclasses.replace(a, x=x, y=torch.cat([a.y, b.y + 3]), texts=None)
    names = (*first.class_names, "d", "e", "f")
    return dataclasses.replace(first, name=f"{first.name}-six", splits=splits, class_names=names)


def _tensors(x: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n: t.clone() for n, t in (x.items() if isinstance(x, dict) else [("x", x)])}


def quick_spec(name: str) -> TechniqueSpec:
    return TECHNIQUES.spec({"technique": name, **TECHNIQUES.get(name).quick}, "recipe")


def train_with(
    names: list[str], task: Task, seed: int, cache: Path
) -> tuple[torch.Tensor, dict[str, object]]:
    specs = [quick_spec(n) for n in names]
    check_recipe("contract", specs)
    model_name = default_model_name(task)
    spec = MODELS.spec_of(model_name, build(MODELS.get(model_name).config_cls, {}, "model"))
    task = prepare_task(spec, task)
    check_task("contract", specs, task)
    torch.manual_seed(seed)
    model = build_model(spec, task)
    train = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False}, "train")
    techniques = [s.instantiate() for s in specs]
    ctx = FitContext(
        train, seed, techniques, cache_dir=cache, cache_key=f"{task.name}-{model_name}"
    )
    result = compose_fit(techniques, fit)(model, task, ctx)
    result.model.eval()
    with torch.no_grad():
        logits = result.model(task.test.x)
    return logits, result.extras


@pytest.mark.parametrize("name", NAMES)
def test_documented_and_configurable(name: str) -> None:
    kind = TECHNIQUES.get(name)
    assert "Reference:" in (kind.__doc__ or ""), f"{name}: cite the paper in the docstring"
    build(kind.Config, {}, name)
    quick_spec(name)
    _title, text, fields = explain(name)
    assert text
    assert all(f.help for f in fields), f"{name}: every option needs a help text"
    assert [f.name for f in fields] == [f.name for f in describe(kind.Config)]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_trains_every_supported_modality(name: str, kind: str, tmp_path: Path) -> None:
    task = contract_task(kind, name)
    before = {k: _tensors(s.x) for k, s in task.splits.items()}
    logits, extras = train_with([name], task, seed=3, cache=tmp_path / "a")
    assert logits.shape == (len(task.test), task.n_classes)
    assert torch.isfinite(logits).all()
    for key, xs in before.items():
        after = _tensors(task.splits[key].x)
        assert all(torch.equal(after[n], x) for n, x in xs.items()), f"{name} modified {key}"
    again, _ = train_with([name], task, seed=3, cache=tmp_path / "b")
    assert torch.allclose(logits, again, atol=1e-5), f"{name} is not deterministic for a seed"
    assert all(isinstance(k, str) for k in extras)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_composes_with_others(first: str, second: str, tmp_path: Path) -> None:
    shared = [
        k
        for k in KINDS
        if k in TECHNIQUES.get(first).modalities and k in TECHNIQUES.get(second).modalities
    ]
    if not shared:
        pytest.skip(f"{first} and {second} share no modality")
    task = contract_task(shared[0], first, second)
    logits, _ = train_with([first, second], task, seed=0, cache=tmp_path)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_adapt_subject_gives_probabilities(name: str, kind: str) -> None:
    model_name = default_model_name(contract_task(kind, name))
    spec = MODELS.spec_of(model_name, build(MODELS.get(model_name).config_cls, {}, "model"))
    task = prepare_task(spec, contract_task(kind, name))
    torch.manual_seed(0)
    model = build_model(spec, task).eval()
    technique = quick_spec(name).instantiate()
    train = build(TrainConfig, {"epochs": 1, "checkpoint": False}, "train")
    members = functools.partial(_fresh_model, spec, task)  # ctx.build_model as a trial sets it
    ctx = FitContext(train, 0, [technique], build_model=members)
    subject = Subject(model)
    before = subject.predict_proba(task.test.x)
    adapted = technique.adapt_subject(subject, task, ctx)
    assert isinstance(adapted, Subject)
    prob = adapted.predict_proba(task.test.x)
    if adapted is subject and not adapted.adapts:
        assert torch.equal(prob, before)  # the identity
    assert prob.shape == (len(task.test), task.n_classes) and torch.isfinite(prob).all()
    assert (prob >= 0).all() and torch.allclose(prob.sum(1), torch.ones(len(prob)), atol=1e-5)
