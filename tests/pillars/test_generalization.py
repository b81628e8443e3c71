"""The generalization pillar on a tiny tabular task with a shift split and a domain split."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from support import fit_tiny_mlp

from fivefold.data import ModalityInfo, Split, Task, shift_split
from fivefold.pillars import PILLARS, Subject
from fivefold.pillars.generalization import GeneralizationPillar, parse_shift_name


def tiny_task(shifts: bool = True, seed: int = 0) -> Task:
    g = torch.Generator().manual_seed(seed)
    n = 240
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=g) + 1.5 * y[:, None].float()
    parts = {"train": slice(0, 140), "val": slice(140, 180), "test": slice(180, n)}
    splits = {k: Split(x[s], y[s]) for k, s in parts.items()}
    inputs = {"x": ModalityInfo("tabular", (4,))}
    task = Task("tiny", splits, inputs, ("no", "yes"))
    if not shifts:
        return task
    domain = Split(torch.randn(30, 4, generator=g) - 1.0, torch.arange(30) % 2)
    shifted = {
        "noise=1": shift_split(task.test, inputs, "noise", 1.0, seed),
        "scaling=0.5": shift_split(task.test, inputs, "scaling", 0.5, seed),
        "domain=B": domain,
    }
    return Task("tiny", splits, inputs, ("no", "yes"), shifts=shifted)


def tiny_subject(task: Task, steps: int = 60) -> Subject:
    x = task.train.x
    assert isinstance(x, torch.Tensor)
    return Subject(fit_tiny_mlp(x, task.train.y, 2, steps))


@pytest.fixture(scope="module")
def task() -> Task:
    return tiny_task()


@pytest.fixture(scope="module")
def subject(task: Task) -> Subject:
    return tiny_subject(task)


def evaluate(subject: Subject, task: Task, **options: Any) -> dict[str, Any]:
    (spec,) = PILLARS.specs({"generalization": options})
    return spec.instantiate().evaluate(subject, task, seed=0).to_json()


def test_registered() -> None:
    assert PILLARS.get("generalization") is GeneralizationPillar


def test_result_structure_and_json(subject: Subject, task: Task) -> None:
    result = evaluate(subject, task)
    json.dumps(result, allow_nan=False)
    metrics = result["metrics"]
    assert result["headline"] == "test_accuracy" and "test_accuracy" in metrics
    higher = {k: v["higher_is_better"] for k, v in metrics.items()}
    assert higher["test_accuracy"] and higher["test_macro_f1"] and higher["shift_accuracy_min"]
    assert not higher["test_nll"] and not higher["train_test_gap"]
    assert not higher["val_test_gap"] and not higher["shift_accuracy_drop"]
    assert higher["shift[noise=1].accuracy"] and higher["shift[domain=B].accuracy"]


def test_values_match_direct_computation(subject: Subject, task: Task) -> None:
    metrics = evaluate(subject, task)["metrics"]

    def acc(split: Split) -> float:
        return float((subject.predict_proba(split.x).argmax(1) == split.y).float().mean())

    assert metrics["test_accuracy"]["value"] == pytest.approx(acc(task.test))
    gap = acc(task.train) - acc(task.test)
    assert metrics["train_test_gap"]["value"] == pytest.approx(gap)
    shift_accs = [acc(s) for s in task.shifts.values()]
    assert metrics["shift_accuracy_mean"]["value"] == pytest.approx(sum(shift_accs) / 3)
    assert metrics["shift_accuracy_min"]["value"] == pytest.approx(min(shift_accs))
    assert metrics["shift[scaling=0.5].accuracy"]["value"] == pytest.approx(shift_accs[1])


def test_shift_table_parses_kind_and_strength(subject: Subject, task: Task) -> None:
    tables = evaluate(subject, task)["tables"]
    rows = {r["shift"]: r for r in tables["shifts"]}
    assert (rows["noise=1"]["kind"], rows["noise=1"]["strength"]) == ("noise", 1.0)
    assert (rows["scaling=0.5"]["kind"], rows["scaling=0.5"]["strength"]) == ("scaling", 0.5)
    assert (rows["domain=B"]["kind"], rows["domain=B"]["strength"]) == ("domain", None)
    assert [r["split"] for r in tables["splits"]] == ["train", "val", "test"]


def test_parse_shift_name() -> None:
    assert parse_shift_name("rotation=30") == ("rotation", 30.0)
    assert parse_shift_name("domain=Asia") == ("domain", None)
    assert parse_shift_name("plain") == ("plain", None)


def test_deterministic(subject: Subject, task: Task) -> None:
    assert evaluate(subject, task) == evaluate(subject, task)


def test_without_shifts_notes_and_option(subject: Subject) -> None:
    bare = evaluate(subject, tiny_task(shifts=False))
    assert not any(k.startswith("shift") for k in bare["metrics"])
    assert any("no shift splits" in n for n in bare["notes"])
    assert "shifts" not in bare["tables"]
    off = evaluate(subject, tiny_task(), shifts=False)
    assert "shifts" not in off["tables"]
    assert "shift_accuracy_mean" not in off["metrics"]
