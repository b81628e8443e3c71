"""Stratified splits, nested subsamples and nested label fractions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.data import DataConfig, Split
from fivefold.data.splits import (
    make_splits,
    nested_label_subset,
    stratified_order,
    stratified_split,
    stratified_subsample,
)
from fivefold.errors import ConfigError

labels_st = st.lists(st.integers(0, 4), min_size=1, max_size=200).map(
    lambda v: torch.tensor(v, dtype=torch.int64)
)


def _pool(counts: list[int]) -> Split:
    """A pool whose x is the row id, so splits can be checked for disjointness."""
    y = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    return Split(torch.arange(len(y)).unsqueeze(1), y, group=y % 2)


def _ids(split: Split) -> set[int]:
    assert isinstance(split.x, torch.Tensor)
    return set(split.x[:, 0].tolist())


@given(labels_st, st.floats(0.05, 0.5), st.integers(0, 2**31))
def test_stratified_split_partitions_and_keeps_every_class(
    y: torch.Tensor, fraction: float, seed: int
) -> None:
    keep, held = stratified_split(y, fraction, seed)
    assert sorted(keep.tolist() + held.tolist()) == list(range(len(y)))
    assert set(y[keep].tolist()) == set(y.tolist())
    for c in set(y.tolist()):
        n = int((y == c).sum())
        n_held = int((y[held] == c).sum())
        assert n_held == (0 if n < 2 else min(max(round(n * fraction), 1), n - 1))


def test_stratified_split_is_seeded() -> None:
    y = torch.arange(300) % 3
    assert torch.equal(stratified_split(y, 0.2, 1)[1], stratified_split(y, 0.2, 1)[1])
    assert not torch.equal(stratified_split(y, 0.2, 1)[1], stratified_split(y, 0.2, 2)[1])


@settings(max_examples=50)
@given(labels_st, st.floats(0.01, 1.0), st.floats(0.01, 1.0), st.integers(0, 2**31))
def test_label_subsets_are_nested_stratified_and_keep_every_class(
    y: torch.Tensor, f1: float, f2: float, seed: int
) -> None:
    small, large = sorted((f1, f2))
    sub_small = set(nested_label_subset(y, small, seed).tolist())
    sub_large = set(nested_label_subset(y, large, seed).tolist())
    assert sub_small <= sub_large
    for c in set(y.tolist()):
        n = int((y == c).sum())
        kept = sum(1 for i in sub_small if y[i] == c)
        assert kept == max(1, math.ceil(round(small * n, 9)))


def test_label_fraction_one_keeps_everything() -> None:
    y = torch.arange(50) % 5
    assert nested_label_subset(y, 1.0, 0).tolist() == list(range(50))
    assert len(nested_label_subset(y, 0.1, 0)) == 5


@given(labels_st, st.integers(0, 2**31))
def test_stratified_order_is_a_permutation_led_by_every_class(y: torch.Tensor, seed: int) -> None:
    order = stratified_order(y, seed)
    assert sorted(order.tolist()) == list(range(len(y)))
    n_classes = len(set(y.tolist()))
    assert set(y[order[:n_classes]].tolist()) == set(y.tolist())


def test_stratified_subsample_is_nested_and_proportional() -> None:
    y = torch.cat([torch.zeros(800), torch.ones(200)]).long()
    small, large = stratified_subsample(y, 100, 3), stratified_subsample(y, 300, 3)
    assert set(small.tolist()) <= set(large.tolist())
    assert len(small) == 100
    assert 70 <= int((y[small] == 0).sum()) <= 90


def test_make_splits_disjoint_stratified_and_deterministic() -> None:
    pool = _pool([60, 30, 10])
    cfg = DataConfig(test_fraction=0.2, val_fraction=0.1, split_seed=4)
    splits = make_splits(pool, None, cfg, 3)
    ids = [_ids(splits[name]) for name in ("train", "val", "test")]
    assert set.union(*ids) == set(range(100))
    assert sum(len(i) for i in ids) == 100
    assert [int((splits["test"].y == c).sum()) for c in range(3)] == [12, 6, 2]
    again = make_splits(pool, None, cfg, 3)
    assert all(torch.equal(splits[k].y, again[k].y) for k in splits)
    other = make_splits(pool, None, DataConfig(split_seed=5), 3)
    assert _ids(other["test"]) != ids[2]


def test_given_test_split_is_used_as_is() -> None:
    pool, test = _pool([20, 20]), _pool([3, 4])
    splits = make_splits(pool, test, DataConfig(), 2)
    assert splits["test"] is test
    assert len(splits["train"]) + len(splits["val"]) == 40


def test_tiny_classes_still_reach_train_and_val() -> None:
    splits = make_splits(_pool([3, 3, 1]), None, DataConfig(val_fraction=0.1), 3)
    assert set(splits["train"].y.tolist()) == {0, 1, 2}
    assert set(splits["val"].y.tolist()) == {0, 1}


def test_label_fraction_moves_rows_to_unlabeled() -> None:
    pool = _pool([100, 100])
    full = make_splits(pool, None, DataConfig(), 2)
    part = make_splits(pool, None, DataConfig(label_fraction=0.1), 2)
    assert _ids(part["train"]) | _ids(part["unlabeled"]) == _ids(full["train"])
    assert not _ids(part["train"]) & _ids(part["unlabeled"])
    assert (part["unlabeled"].y == -1).all()
    assert part["unlabeled"].group is not None
    smaller = make_splits(pool, None, DataConfig(label_fraction=0.05), 2)
    assert _ids(smaller["train"]) <= _ids(part["train"])


def test_max_train_caps_and_nests() -> None:
    pool = _pool([300, 100])
    small = make_splits(pool, None, DataConfig(max_train=40), 2)
    large = make_splits(pool, None, DataConfig(max_train=80), 2)
    assert len(small["train"]) == 40
    assert _ids(small["train"]) <= _ids(large["train"])
    assert _ids(small["val"]) == _ids(large["val"])
    with pytest.raises(ConfigError, match="max_train"):
        make_splits(_pool([5] * 12), None, DataConfig(max_train=10), 12)
