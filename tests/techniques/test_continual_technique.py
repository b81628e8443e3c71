"""The ``continual`` technique end to end on tiny tasks: what it trains, reports and refuses."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.drift import drift_stream
from fivefold.errors import ConfigError
from fivefold.schema import build
from fivefold.techniques.adaptive.continual.replay import ReservoirBuffer
from fivefold.techniques.adaptive.continual.technique import (
    Continual,
    ContinualConfig,
    _Penalty,
    _Replay,
)
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import Batch, FitContext, Technique


def _net(features: int, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, classes))


def _ctx(seed: int = 0, epochs: int = 3) -> FitContext:
    train = build(TrainConfig, {"epochs": epochs, "batch_size": 16, "lr": 1e-2}, "train")
    return FitContext(train, seed)


def _run(options: dict[str, object], task_kind: str = "tabular") -> tuple[object, FitContext]:
    task = tiny_task(task_kind, n=192)
    cfg = build(ContinualConfig, options, "continual")
    technique = Continual("continual", cfg)
    ctx = _ctx()
    ctx.techniques = (technique,)
    features = 7 if task_kind == "tabular" else 64
    result = compose_fit([technique], fit)(_net(features), task, ctx)
    return result, ctx


def test_class_incremental_matrix_is_each_experience_scored_after_each_step() -> None:
    result, _ = _run({"experiences": 3})
    report = result.extras["continual"]  # type: ignore[attr-defined]
    matrix = torch.tensor(report["accuracy_matrix"])
    assert matrix.shape == (3, 3)
    classes = [e["classes"] for e in report["experiences_seen"]]
    assert sorted(c for group in classes for c in group) == [0, 1, 2]
    # the last row is the final model's accuracy on each experience's test rows
    task = tiny_task("tabular", n=192)
    model = result.model.eval()  # type: ignore[attr-defined]
    for j, group in enumerate(classes):
        rows = torch.isin(task.test.y, torch.tensor(group))
        with torch.no_grad():
            pred = model(task.test.x[rows]).argmax(1)
        acc = float((pred == task.test.y[rows]).float().mean())
        assert matrix[-1, j].item() == pytest.approx(acc)
    scores = report["scores"]
    assert scores["average_accuracy"] == pytest.approx(matrix[-1].mean().item())
    metrics = report["pillar_metrics"]["generalization"]
    assert metrics["continual_forgetting"]["higher_is_better"] is False
    assert metrics["continual_average_accuracy"]["higher_is_better"] is True
    # one single-head model: naive fine-tuning forgets the first classes
    assert scores["forgetting"] > 0.3


def test_replay_keeps_earlier_classes_better_than_naive() -> None:
    naive, _ = _run({"experiences": 3})
    replay, _ = _run({"experiences": 3, "strategy": "replay", "buffer": 48})
    a = naive.extras["continual"]["scores"]  # type: ignore[attr-defined]
    b = replay.extras["continual"]["scores"]  # type: ignore[attr-defined]
    assert b["average_accuracy"] > a["average_accuracy"]
    assert b["forgetting"] < a["forgetting"]


def test_replay_hook_appends_buffer_rows_and_leaves_soft_targets() -> None:
    buffer = ReservoirBuffer(10, seed=0)
    buffer.add(torch.full((5, 2), 7.0), torch.full((5,), 2))
    hook = _Replay(buffer, rows=3, seed=0)
    batch = Batch(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    out = hook.adapt_batch(batch, nn.Identity(), _ctx())
    assert out.x.shape == (7, 2) and torch.equal(out.y[4:], torch.full((3,), 2))
    assert torch.equal(out.x[4:], torch.full((3, 2), 7.0))
    empty = _Replay(ReservoirBuffer(4, seed=0), rows=3, seed=0)
    assert empty.adapt_batch(batch, nn.Identity(), _ctx()) is batch


class _Const(Technique):
    Config = ContinualConfig

    def penalty(self, model: nn.Module, ctx: FitContext) -> torch.Tensor:
        return sum(p.sum() for p in model.parameters()) * 0.0 + 5.0  # type: ignore[return-value]


def test_penalty_hook_is_added_to_the_loss() -> None:
    task = tiny_task("tabular", n=96)
    plain = fit(_net(7), task, _ctx(epochs=1))
    ctx = _ctx(epochs=1)
    ctx.techniques = (_Const("c", None),)
    with_penalty = fit(_net(7), task, ctx)
    gap = with_penalty.history[0]["train_loss"] - plain.history[0]["train_loss"]
    assert gap == pytest.approx(5.0, abs=1e-4)


def test_ewc_penalty_hook_pulls_towards_the_anchor() -> None:
    from fivefold.techniques.adaptive.continual.ewc import EWCPenalty

    net = _net(7)
    names = [n for n, _ in net.named_parameters()]
    fisher = {n: torch.ones_like(p) for n, p in net.named_parameters()}
    anchor = {n: p.detach().clone() + 1.0 for n, p in net.named_parameters()}
    hook = _Penalty(EWCPenalty(fisher, anchor, 2.0))
    value = hook.penalty(net, _ctx())
    total = sum(p.numel() for p in net.parameters())
    assert value.item() == pytest.approx(total)  # 2/2 * sum(1 * 1^2)
    assert len(names) == 4


def test_ewc_runs_and_reports() -> None:
    result, _ = _run({"experiences": 3, "strategy": "ewc", "fisher_samples": 20})
    scores = result.extras["continual"]["scores"]  # type: ignore[attr-defined]
    assert 0.0 <= scores["average_accuracy"] <= 1.0


def _stream_task() -> object:
    s = drift_stream("sea", n=3000, drifts=[1500], width=1, seed=0)
    split = s.as_split()
    x = (split.x - split.x.mean(0)) / split.x.std(0)
    split = dataclasses.replace(split, x=x)
    base = tiny_task("tabular", n=96)
    info = {"drift_positions": "1500", "drift_widths": "1"}
    from fivefold.data.task import ModalityInfo

    return dataclasses.replace(
        base,
        splits={"train": split, "val": split, "test": split, "stream": split},
        inputs={"x": ModalityInfo("tabular", (3,))},
        class_names=("0", "1"),
        info=info,
    )


def test_stream_scenario_reports_prequential_accuracy_and_detections() -> None:
    task = _stream_task()
    cfg = build(
        ContinualConfig,
        {"scenario": "stream", "detector": "adwin", "window": 100},
        "continual",
    )
    technique = Continual("continual", cfg)
    Continual.check_task(cfg, task)  # type: ignore[arg-type]
    ctx = _ctx()
    result = technique.wrap_fit(fit)(_net(3, 2), task, ctx)  # type: ignore[arg-type]
    report = result.extras["continual"]
    assert report["n_stream"] == 3000 and report["drift_positions"] == [1500]
    assert 0.5 < report["prequential_accuracy"] <= 1.0
    assert len(report["recovery"]) == 1 and report["recovery"][0]["position"] == 1500
    assert set(report["detection"]) >= {"detected", "false_alarms", "mean_delay"}
    assert report["curve"]["accuracy"] and report["curve"]["window"] == 100
    assert "continual_prequential_accuracy" in report["pillar_metrics"]["generalization"]


def test_plan_time_checks() -> None:
    task = tiny_task("tabular", n=96)
    with pytest.raises(ConfigError, match="sea_stream"):
        Continual.check_task(build(ContinualConfig, {"scenario": "stream"}, "c"), task)
    with pytest.raises(ConfigError, match="must divide"):
        Continual.check_task(build(ContinualConfig, {"experiences": 2}, "c"), task)
    with pytest.raises(ConfigError, match="class_order"):
        Continual.check_task(
            build(ContinualConfig, {"experiences": 3, "class_order": [0, 0, 1]}, "c"), task
        )
    with pytest.raises(ConfigError, match="rotation"):
        Continual.check_task(build(ContinualConfig, {"scenario": "domain"}, "c"), task)
    with pytest.raises(ConfigError, match="'ewc'"):
        Continual.check_task(
            build(ContinualConfig, {"scenario": "stream", "strategy": "ewc"}, "c"),
            _stream_task(),  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigError, match="before 'continual'"):
        Continual.check_model(ContinualConfig(), nn.Linear(2, 2), ["continual", "ensemble"])
    Continual.check_model(ContinualConfig(), nn.Linear(2, 2), ["ensemble", "continual"])
