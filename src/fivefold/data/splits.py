"""Deterministic stratified splits, nested subsamples and nested label fractions.

Every function takes an explicit integer seed; :func:`make_splits` derives them from
``data.split_seed`` with :func:`fivefold.seeding.child_seed`, so the split is fixed across trials.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.task import Split
from fivefold.errors import ConfigError, DataError
from fivefold.seeding import child_seed

__all__ = [
    "make_splits",
    "nested_label_subset",
    "stratified_order",
    "stratified_split",
    "stratified_subsample",
]


def _indices(parts: list[np.ndarray]) -> torch.Tensor:
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(np.sort(joined).astype(np.int64))


def _held_count(n: int, fraction: float) -> int:
    """Rows of a class of size ``n`` to hold out: ≥1 when n ≥ 2, and always ≥1 kept."""
    if n < 2:
        return 0
    return min(max(round(n * fraction), 1), n - 1)


def stratified_split(
    y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split rows into a kept part and a held-out part with ``fraction`` of every class.

    Each class keeps at least one row, and holds out at least one when it has two or more.

    Args:
        y: int64 (N,) labels.
        fraction: share of each class to hold out, in (0, 1).
        seed: the permutation seed.

    Returns:
        keep, held: sorted int64 index tensors that partition ``range(N)``.
    """
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    keep: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_held = _held_count(len(rows), fraction)
        held.append(rows[:n_held])
        keep.append(rows[n_held:])
    return _indices(keep), _indices(held)


def stratified_order(y: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed row order whose every prefix is (nearly) stratified.

    The first row of each class comes first, so any prefix of at least ``n_classes`` rows holds
    every class; the other rows follow at evenly spaced, jittered positions per class.

    Args:
        y: int64 (N,) labels.
        seed: the permutation seed.

    Returns:
        int64 (N,) a permutation of ``range(N)``.
    """
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    rows: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        key = (np.arange(len(members)) + rng.random(len(members))) / len(members)
        key[0] = -1.0
        rows.append(members)
        keys.append(key)
    if not rows:
        return torch.zeros(0, dtype=torch.int64)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return torch.from_numpy(np.concatenate(rows)[order].astype(np.int64))


def stratified_subsample(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The first ``n`` rows of :func:`stratified_order`, sorted (nested in ``n``).

    Returns:
        int64 (min(n, N),) sorted indices.
    """
    return torch.sort(stratified_order(y, seed)[:n]).values


def nested_label_subset(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Rows kept as labelled: the first ``ceil(fraction · n_c)`` (≥1) of each class.

    Each class has a fixed permutation that depends only on ``seed`` and the class, so the
    subset for a smaller fraction lies inside the subset for a larger one.

    Args:
        y: int64 (N,) labels.
        fraction: share of each class to keep, in (0, 1].
        seed: the permutation seed.

    Returns:
        int64 sorted indices of the labelled rows.
    """
    labels = y.numpy()
    kept: list[np.ndarray] = []
    for c in np.unique(labels):
        rng = np.random.default_rng(child_seed(seed, "class", int(c)))
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_keep = max(1, math.ceil(round(fraction * len(rows), 9)))
        kept.append(rows[:n_keep])
    return _indices(kept)


def _complement(n: int, idx: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[idx] = False
    return torch.nonzero(mask).flatten()


def _unlabeled(split: Split) -> Split:
    return Split(split.x, torch.full_like(split.y, -1), split.group, split.texts)


def _cap_train(train: Split, cfg: DataConfig, n_classes: int) -> Split:
    if cfg.max_train is None or cfg.max_train >= len(train):
        return train
    if cfg.max_train < n_classes:
        raise ConfigError(
            f"data.max_train: {cfg.max_train} is fewer than the {n_classes} classes; "
            f"set it to at least {n_classes}"
        )
    seed = child_seed(cfg.split_seed, "max_train")
    return train.subset(stratified_subsample(train.y, cfg.max_train, seed))


def _check_sizes(splits: dict[str, Split], pool: Split, cfg: DataConfig, official: bool) -> None:
    """Fail when train, val or test would hold no row, with the counts that explain why.

    A class holds a row out only when it has two or more (one always stays behind), so a
    split empties when no class is large enough for it: test needs a class of 2 rows, val one
    of 3 (2 when the test split is given).
    """
    source = Path(cfg.path).name if cfg.path else cfg.dataset
    largest = int(torch.bincount(pool.y).max()) if len(pool) else 0
    need = {"train": 1, "test": 2, "val": 2 if official else 3}
    fractions = {"val": cfg.val_fraction, "test": cfg.test_fraction}
    for name, rows in need.items():
        if len(splits[name]):
            continue
        if name == "test" and official:
            raise DataError(f"data: the test split of {source} holds 0 rows; add rows to it")
        fraction = f", {name}_fraction {fractions[name]}" if name in fractions else ""
        raise DataError(
            f"data: the {name} split of {source} would hold 0 rows ({len(pool)} rows, at most "
            f"{largest} of a class{fraction}); give at least {rows} rows of some class (a class "
            "holds rows out only from its 2nd row on)"
        )


def make_splits(
    pool: Split, test: Split | None, cfg: DataConfig, n_classes: int
) -> dict[str, Split]:
    """Split a labelled pool into train/val/test (+ "unlabeled") as ``cfg`` asks.

    Order: test (unless given), val from the rest, ``max_train`` cap, then ``label_fraction``;
    rows dropped by the label fraction become the "unlabeled" split with labels -1.

    Args:
        pool: labelled rows to split.
        test: an official or user test split used as is, or None.
        cfg: the data config (fractions, caps and ``split_seed``).
        n_classes: number of classes.

    Returns:
        the splits by name.

    Raises:
        DataError: train, val or test would hold no row.
    """
    full, official = pool, test is not None
    if test is None:
        rest, held = stratified_split(pool.y, cfg.test_fraction, child_seed(cfg.split_seed, "test"))
        pool, test = pool.subset(rest), pool.subset(held)
    rest, held = stratified_split(pool.y, cfg.val_fraction, child_seed(cfg.split_seed, "val"))
    train = _cap_train(pool.subset(rest), cfg, n_classes)
    splits = {"train": train, "val": pool.subset(held), "test": test}
    _check_sizes(splits, full, cfg, official)
    if cfg.label_fraction < 1.0:
        seed = child_seed(cfg.split_seed, "labels")
        labelled = nested_label_subset(train.y, cfg.label_fraction, seed)
        dropped = _complement(len(train), labelled)
        splits["train"] = train.subset(labelled)
        if len(dropped):
            splits["unlabeled"] = _unlabeled(train.subset(dropped))
    return splits
