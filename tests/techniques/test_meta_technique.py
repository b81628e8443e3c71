"""The ``meta`` technique on a tiny task: the class split, the few-shot report and its checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.errors import ConfigError
from fivefold.schema import build
from fivefold.techniques.adaptive.meta.technique import Meta, MetaConfig
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext


def _six() -> object:
    a, b = tiny_task("tabular", n=192), tiny_task("tabular", n=192, seed=1)
    splits = {}
    for name, s in a.splits.items():
        t = b.splits[name]
        x = torch.cat([s.x, t.x.flip(-1) + 2.0])
        splits[name] = dataclasses.replace(s, x=x, y=torch.cat([s.y, t.y + 3]))
    return dataclasses.replace(a, splits=splits, class_names=tuple("abcdef"))


def test_meta_reports_few_shot_on_held_out_classes_and_trains_the_task() -> None:
    task = _six()
    options = {**Meta.quick, "iterations": 20, "eval_episodes": 8, "eval_shots": [1, 2]}
    cfg = build(MetaConfig, options, "meta")
    train = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False}, "train")
    ctx = FitContext(train, 0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 16), nn.ReLU(), nn.Linear(16, 6))
    result = Meta("meta", cfg).wrap_fit(fit)(model, task, ctx)  # type: ignore[arg-type]
    report = result.extras["meta"]
    held, seen = set(report["meta_test_classes"]), set(report["meta_train_classes"])
    assert not held & seen and len(held) == 2 and held | seen == set("abcdef")
    assert set(report["few_shot"]) == {"2way_1shot", "2way_2shot"}
    for scores in report["few_shot"].values():
        assert set(scores) == {"maml", "scratch", "pretrained_probe"}
        assert all(0.0 <= s["mean"] <= 1.0 for s in scores.values())
    metrics = report["pillar_metrics"]["generalization"]
    assert "fewshot_2way_1shot_accuracy" in metrics
    assert "fewshot_2way_2shot_pretrained_probe_accuracy" in metrics
    # the model the pillars score is trained on every class afterwards
    assert result.model(task.test.x).shape == (len(task.test), 6)
    assert len(result.history) == 2


def test_the_class_split_is_the_same_for_every_seed() -> None:
    from fivefold.techniques.adaptive.meta.episodes import split_classes

    assert split_classes(10, 5, 0) == split_classes(10, 5, 0)
    train, test = split_classes(10, 5, 0)
    assert sorted(train + test) == list(range(10))


def test_plan_time_checks() -> None:
    task = _six()
    with pytest.raises(ConfigError, match="ways <= classes - test_classes"):
        Meta.check_task(build(MetaConfig, {"ways": 5, "test_classes": 2}, "m"), task)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fewer than ways"):
        Meta.check_task(build(MetaConfig, {"ways": 3, "test_classes": 2}, "m"), task)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="training rows"):
        Meta.check_task(
            build(MetaConfig, {"ways": 2, "test_classes": 2, "queries": 100}, "m"),
            task,  # type: ignore[arg-type]
        )
    Meta.check_task(build(MetaConfig, {"ways": 2, "test_classes": 2, "queries": 3}, "m"), task)  # type: ignore[arg-type]
