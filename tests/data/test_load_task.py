"""load_task end to end: determinism, label fractions, caps and shifts on real data."""

from __future__ import annotations

import pytest
import torch

from fivefold.data import DataConfig, ShiftConfig, load_task
from fivefold.errors import ConfigError


def _rows(x: object) -> set[bytes]:
    assert isinstance(x, torch.Tensor)
    return {row.numpy().tobytes() for row in x}


def test_same_seed_same_task_other_seed_other_split() -> None:
    a, b = load_task(DataConfig()), load_task(DataConfig())
    c = load_task(DataConfig(split_seed=1))
    for name in ("train", "val", "test"):
        assert torch.equal(a.splits[name].x, b.splits[name].x)  # type: ignore[arg-type]
    assert not torch.equal(a.test.y, c.test.y)


def test_splits_are_disjoint_on_real_data() -> None:
    task = load_task(DataConfig(dataset="gunpoint", label_fraction=0.5))
    names = ["train", "val", "unlabeled"]
    rows = [_rows(task.splits[n].x) for n in names]
    assert sum(len(r) for r in rows) == len(set.union(*rows)) == 50


def test_label_fraction_and_max_train() -> None:
    task = load_task(DataConfig(dataset="fashion_mnist", max_train=500, label_fraction=0.1))
    assert len(task.train) + len(task.splits["unlabeled"]) == 500
    assert torch.bincount(task.train.y).tolist() == [5] * 10
    assert (task.splits["unlabeled"].y == -1).all() and len(task.test) == 10000
    smaller = load_task(DataConfig(dataset="fashion_mnist", max_train=500, label_fraction=0.05))
    assert _rows(smaller.train.x) <= _rows(task.train.x)


def test_shift_splits_of_the_test_split() -> None:
    shifts = (ShiftConfig("rotation", (0.0, 90.0)), ShiftConfig("noise", (0.1,)))
    task = load_task(DataConfig(shifts=shifts))
    assert list(task.shifts) == ["rotation=0", "rotation=90", "noise=0.1"]
    torch.testing.assert_close(task.shifts["rotation=0"].x, task.test.x)
    test_x = task.test.x
    assert isinstance(test_x, torch.Tensor)
    torch.testing.assert_close(task.shifts["rotation=90"].x, torch.rot90(test_x, 1, dims=(2, 3)))
    assert torch.equal(task.shifts["noise=0.1"].y, task.test.y)


def test_sequence_translation_on_both_modalities() -> None:
    task = load_task(
        DataConfig(dataset="basic_motions", shifts=(ShiftConfig("translation", (5,)),))
    )
    shifted = task.shifts["translation=5"].x
    assert isinstance(shifted, dict) and set(shifted) == {"accelerometer", "gyroscope"}
    assert (shifted["gyroscope"][..., :5] == 0).all()


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (DataConfig(dataset="gunpoint", shifts=(ShiftConfig("rotation", (10,)),)), "rotation"),
        (DataConfig(dataset="digits", domain="region"), "no domain column"),
        (DataConfig(dataset="digits", test_domains=("a",)), "data.test_domains"),
    ],
)
def test_options_that_do_not_fit_the_data(cfg: DataConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_task(cfg)
