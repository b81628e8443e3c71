"""Class- and domain-incremental experiences: partitions, unions, levels and errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from support import tiny_task

from fivefold.data.task import Split, Task
from fivefold.errors import ConfigError
from fivefold.techniques.adaptive.continual.streams import class_incremental, domain_incremental


def six_class_task() -> Task:
    task = tiny_task("tabular", n=120)
    g = torch.Generator().manual_seed(1)
    splits = {
        name: Split(s.x, torch.randint(0, 6, (len(s),), generator=g))
        for name, s in task.splits.items()
    }
    unlabeled = Split(task.train.x[:5], torch.full((5,), -1))
    shifted = {"noise=1": task.test}
    names = tuple("abcdef")
    return replace(
        task, splits={**splits, "unlabeled": unlabeled}, shifts=shifted, class_names=names
    )


def sorted_rows(split: Split) -> torch.Tensor:
    assert isinstance(split.x, torch.Tensor)
    rows = torch.cat([split.x, split.y[:, None].float()], dim=1)
    return rows[torch.argsort(rows[:, 0])]


def test_class_incremental_partitions_classes_and_rows() -> None:
    task = six_class_task()
    experiences = class_incremental(task, 3, seed=7)
    groups = [e.classes for e in experiences]
    assert all(len(g) == 2 for g in groups)
    assert sorted(c for g in groups for c in g) == list(range(6))
    assert groups == [e.classes for e in class_incremental(task, 3, seed=7)]  # seeded
    for exp in experiences:
        assert exp.task.class_names == task.class_names  # the head keeps all classes
        assert exp.task.shifts == {}
        assert set(exp.task.splits) == {"train", "val", "test"}
        for split in exp.task.splits.values():
            assert set(split.y.tolist()) <= set(exp.classes)
    for name in ("train", "val", "test"):
        parts = [e.task.splits[name] for e in experiences]
        assert sum(len(p) for p in parts) == len(task.splits[name])
        union = Split(
            torch.cat([p.x for p in parts if isinstance(p.x, torch.Tensor)]),
            torch.cat([p.y for p in parts]),
        )
        torch.testing.assert_close(sorted_rows(union), sorted_rows(task.splits[name]))


def test_class_order_sorted_or_given() -> None:
    task = six_class_task()
    assert [e.classes for e in class_incremental(task, 2, seed=None)] == [(0, 1, 2), (3, 4, 5)]
    given = class_incremental(task, 3, seed=None, order=[5, 4, 3, 2, 1, 0])
    assert [e.classes for e in given] == [(5, 4), (3, 2), (1, 0)]
    assert [e.name for e in given] == ["exp0", "exp1", "exp2"]


@pytest.mark.parametrize("n", [0, 4, 7])
def test_class_incremental_needs_a_divisor(n: int) -> None:
    with pytest.raises(ConfigError, match="n_experiences") as err:
        class_incremental(six_class_task(), n, seed=0)
    assert "\n" not in str(err.value)


def test_class_order_must_be_a_permutation() -> None:
    with pytest.raises(ConfigError, match="order"):
        class_incremental(six_class_task(), 2, seed=0, order=[0, 1, 2, 3, 4, 4])


def test_domain_rotation_levels_increase_from_the_original() -> None:
    task = tiny_task("image", n=96)
    experiences = domain_incremental(task, 4, kind="rotation", max_level=90.0, seed=0)
    assert all(e.classes == (0, 1, 2) for e in experiences)
    clean = task.test.x
    assert isinstance(clean, torch.Tensor)
    gaps = []
    for exp in experiences:
        x = exp.task.test.x
        assert isinstance(x, torch.Tensor)
        gaps.append(float((x - clean).abs().mean()))
        torch.testing.assert_close(exp.task.test.y, task.test.y)
    assert gaps[0] == 0.0  # level 0 is the original data
    assert gaps[1] < gaps[2] < gaps[3]
    # the last level is a quarter turn: torch.rot90 up to the sampling grid's rounding
    last = experiences[-1].task.test.x
    assert isinstance(last, torch.Tensor)
    torch.testing.assert_close(last, torch.rot90(clean, 1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_domain_train_rows_are_disjoint_and_cover_train() -> None:
    task = tiny_task("image", n=96)
    experiences = domain_incremental(task, 3, kind="noise", max_level=0.2, seed=3)
    sizes = [len(e.task.train) for e in experiences]
    assert sum(sizes) == len(task.train) and max(sizes) - min(sizes) <= 1
    assert all(len(e.task.val) == len(task.val) for e in experiences)
    # at level 0 everywhere the parts are original rows: each train row in exactly one part
    untouched = domain_incremental(task, 3, kind="noise", max_level=0.0, seed=3)
    assert [len(e.task.train) for e in untouched] == sizes  # the same seeded partition
    parts = [e.task.train.x for e in untouched]
    assert all(isinstance(x, torch.Tensor) for x in parts) and isinstance(
        task.train.x, torch.Tensor
    )
    stacked = torch.cat(parts).flatten(1)  # type: ignore[arg-type]
    matches = (stacked[:, None] == task.train.x.flatten(1)[None]).all(-1)
    assert (matches.sum(0) == 1).all() and (matches.sum(1) == 1).all()
    whole = domain_incremental(task, 3, kind="noise", max_level=0.2, seed=3, partition_train=False)
    assert all(len(e.task.train) == len(task.train) for e in whole)


def test_domain_noise_is_seeded_and_grows() -> None:
    task = tiny_task("sequence", n=60)
    a = domain_incremental(task, 3, kind="noise", max_level=0.3, seed=1)
    b = domain_incremental(task, 3, kind="noise", max_level=0.3, seed=1)
    c = domain_incremental(task, 3, kind="noise", max_level=0.3, seed=2)
    xa = [e.task.test.x for e in a]
    assert all(isinstance(x, torch.Tensor) for x in xa)
    torch.testing.assert_close(a[2].task.test.x, b[2].task.test.x)
    assert not torch.equal(a[2].task.test.x, c[2].task.test.x)  # type: ignore[arg-type]
    clean = task.test.x
    assert isinstance(clean, torch.Tensor)
    gaps = [float((x - clean).abs().mean()) for x in xa]  # type: ignore[operator]
    assert gaps[0] == 0.0 < gaps[1] < gaps[2]


def test_domain_incremental_errors() -> None:
    with pytest.raises(ConfigError, match="rotation does not apply to tabular"):
        domain_incremental(tiny_task("tabular"), 2, kind="rotation", max_level=30, seed=0)
    with pytest.raises(ConfigError, match="noise does not apply to text"):
        domain_incremental(tiny_task("text"), 2, kind="noise", max_level=0.1, seed=0)
    with pytest.raises(ConfigError, match="kind must be"):
        domain_incremental(tiny_task("image"), 2, kind="blur", max_level=1, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_level"):
        domain_incremental(tiny_task("image"), 2, kind="noise", max_level=-1, seed=0)


def test_domain_noise_on_tabular_keeps_one_hot_columns() -> None:
    task = tiny_task("tabular", n=60)
    last = domain_incremental(task, 2, kind="noise", max_level=0.5, seed=0)[-1].task.test.x
    clean = task.test.x
    assert isinstance(last, torch.Tensor) and isinstance(clean, torch.Tensor)
    torch.testing.assert_close(last[:, 4:], clean[:, 4:])  # the one-hot categorical block
    assert not torch.allclose(last[:, :4], clean[:, :4])
