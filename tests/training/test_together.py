"""Members trained together as one wide model equal the same members trained one by one.

In float64 the only difference between the two paths is the rounding of batched kernels
(bmm vs addmm, a grouped vs a plain convolution), so every parameter, buffer and epoch record
must agree to ~1e-9 after several epochs with dropout, batch norm, gradient clipping, early
stopping and bootstrap rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.task import Split, Task
from fivefold.models import MODELS, build_model, prepare_task
from fivefold.models.stacked import UnstackableError, stack_inputs, stack_models
from fivefold.schema import build
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext, Technique
from fivefold.training.together import fit_members, member_stream, why_not_together

CASES = [
    ("mlp", "tabular", {"dropout": 0.3}),
    ("mlp", "image", {"norm": "batch", "dropout": 0.2}),
    ("mlp", "sequence", {"norm": "layer", "activation": "gelu"}),
    ("mlp", "tabular", {"hidden": []}),
    ("cnn", "image", {"dropout": 0.25}),
    ("cnn", "sequence", {"norm": "group"}),
]


def _double(task: Task) -> Task:
    def cast(split: Split) -> Split:
        assert isinstance(split.x, torch.Tensor)
        return dataclasses.replace(split, x=split.x.double())

    return dataclasses.replace(task, splits={k: cast(v) for k, v in task.splits.items()})


def _members(model: str, kind: str, options: dict[str, Any], seeds: list[int]) -> Any:
    spec = MODELS.spec({"name": model, **options})
    task = prepare_task(spec, tiny_task(kind, n=120))
    models, streams = [], []
    for s in seeds:
        torch.manual_seed(s)
        models.append(build_model(spec, task).double())
        streams.append(member_stream())
    return _double(task), models, streams


def _train(**options: Any) -> TrainConfig:
    base = {"epochs": 4, "batch_size": 16, "checkpoint": False, "grad_clip": 0.5}
    return build(TrainConfig, {**base, **options}, "train")


def _max_diff(a: list[nn.Module], b: list[nn.Module]) -> float:
    diffs = [
        float((p.double() - q.double()).abs().max())
        for x, y in zip(a, b, strict=True)
        for p, q in zip(x.state_dict().values(), y.state_dict().values(), strict=True)
    ]
    return max(diffs)


@pytest.mark.parametrize(("model", "kind", "options"), CASES)
@pytest.mark.parametrize("bagging", [False, True])
def test_together_equals_one_by_one(
    model: str, kind: str, options: dict[str, Any], bagging: bool
) -> None:
    seeds = [3, 1, 4]
    ctx = FitContext(_train(), 0)
    task, a, sa = _members(model, kind, options, seeds)
    rows = None
    if bagging:
        gen = torch.Generator().manual_seed(0)
        n = len(task.train)
        rows = [torch.randint(n, (n,), generator=gen) for _ in seeds]
    ctxs = [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)]
    together, why = fit_members(a, task, ctxs, sa, rows)
    assert why is None
    _, b, sb = _members(model, kind, options, seeds)
    ctxs = [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)]
    alone, why = fit_members(b, task, ctxs, sb, rows, together=False)
    assert why == "asked to train one by one"
    assert _max_diff(a, b) < 1e-9
    for t, o in zip(together, alone, strict=True):
        assert len(t.history) == len(o.history) == 4
        for r, s in zip(t.history, o.history, strict=True):
            for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
                assert r[key] == pytest.approx(s[key], abs=1e-6)
    # the members really differ from one another (different seeds, data orders, dropout)
    assert _max_diff(a[:1], a[1:2]) > 1e-3


def test_a_lone_fit_in_the_members_stream_is_its_twin() -> None:
    """The documented recipe: build, then ``fit`` with the global stream in the member's state."""
    task, a, sa = _members("mlp", "tabular", {"dropout": 0.3}, [5, 6])
    ctx = FitContext(_train(), 0)
    fit_members(a, task, [ctx.for_member(f"m{k}", s) for k, s in enumerate([5, 6])], sa)
    torch.manual_seed(6)
    spec = MODELS.spec({"name": "mlp", "dropout": 0.3})
    lone = build_model(spec, prepare_task(spec, tiny_task("tabular", n=120))).double()
    fit(lone, task, ctx.for_member("m1", 6))  # global stream continues right after the build
    assert _max_diff([a[1]], [lone]) < 1e-9


def test_early_stopping_per_member() -> None:
    seeds = [0, 1, 2, 3]
    train = _train(epochs=12, patience=1, monitor="val_accuracy", lr=0.05)
    ctx = FitContext(train, 0)
    task, a, sa = _members("mlp", "tabular", {}, seeds)
    together, _ = fit_members(
        a, task, [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)], sa
    )
    _, b, sb = _members("mlp", "tabular", {}, seeds)
    ctxs = [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)]
    alone, _ = fit_members(b, task, ctxs, sb, together=False)
    assert [len(r.history) for r in together] == [len(r.history) for r in alone]
    assert [r.best_epoch for r in together] == [r.best_epoch for r in alone]
    assert len({len(r.history) for r in together}) > 1, "pick settings where members stop apart"
    assert _max_diff(a, b) < 1e-9


def test_stacked_state_mirrors_members_and_forward_matches() -> None:
    task, models, _ = _members("cnn", "image", {}, [0, 1, 2])
    stacked = stack_models(models)
    state = stacked.state_dict()
    assert list(state) == list(models[0].state_dict())
    for k, m in enumerate(models):
        for name, value in m.state_dict().items():
            assert torch.equal(state[name][k], value)
        assert all(torch.equal(v, m.state_dict()[n]) for n, v in stacked.member_state(k).items())
    stacked.eval()
    for m in models:
        m.eval()
    x = task.test.x
    out = stacked(stack_inputs([x, x, x]))
    for k, m in enumerate(models):
        assert torch.allclose(out[k], m(x), atol=1e-12)


class _Resizes(Technique):
    Config = dict  # type: ignore[assignment]

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        return model


def test_what_cannot_train_together_says_why() -> None:
    ctx = FitContext(_train(), 0)
    task, models, _ = _members("mlp", "tabular", {}, [0, 1])
    ctxs = [ctx.for_member("a", 0), ctx.for_member("b", 1)]
    assert why_not_together(models, ctxs) is None
    assert why_not_together(models[:1], ctxs[:1]) == "a single model"
    assert "rows" in (why_not_together(models, ctxs, [10, 11]) or "")
    spec = MODELS.spec({"name": "gru"})
    seq = prepare_task(spec, tiny_task("sequence"))
    grus = [build_model(spec, seq), build_model(spec, seq)]
    assert "GRU" in (why_not_together(grus, ctxs) or "") or "not stackable" in (
        why_not_together(grus, ctxs) or ""
    )
    with pytest.raises(UnstackableError):
        stack_models(grus)
    other = [models[0], build_model(MODELS.spec({"name": "mlp", "hidden": [8]}), task)]
    assert why_not_together(other, ctxs) is not None
    with_technique = [dataclasses.replace(c, techniques=(_Resizes("r", {}),)) for c in ctxs]
    assert "'r'" in (why_not_together(models, with_technique) or "")
    slow = dataclasses.replace(ctxs[1], train=_train(lr=0.5))
    assert "settings" in (why_not_together(models, [ctxs[0], slow]) or "")


@pytest.mark.parametrize("options", [{}, {"mixup_alpha": 0.4}])
def test_batch_only_techniques_train_together_as_twins(options: dict[str, Any]) -> None:
    from fivefold.techniques import TECHNIQUES

    seeds = [0, 1]
    augment = TECHNIQUES.spec({"technique": "augment", **options}, "recipe").instantiate()
    ctx = FitContext(_train(), 0, [augment])
    task, a, sa = _members("cnn", "image", {}, seeds)
    together, why = fit_members(
        a, task, [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)], sa
    )
    assert why is None and together[0].extras["trained_together"] == 2
    _, b, sb = _members("cnn", "image", {}, seeds)
    ctxs = [ctx.for_member(f"m{k}", s) for k, s in enumerate(seeds)]
    fit_members(b, task, ctxs, sb, together=False)
    assert _max_diff(a, b) < 1e-9
