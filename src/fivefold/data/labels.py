"""Class order and target sanity: ``data.classes`` and the refusal of continuous targets.

A loader numbers classes in sorted order (numbers numerically, other values as text). That
order is arbitrary for string labels ("benign" < "malignant"), and a model trained elsewhere
may use another: ``data.classes`` gives the order explicitly (:func:`class_order`), and the
labels of every split are renumbered to it after splitting, so that the rows of each split
do not depend on the order.

fivefold classifies. A numeric target with many distinct values (a price, a score, a count)
would silently become hundreds of classes of one or two rows each; :func:`check_classes`
refuses it with a line saying how to bin it.
"""

from __future__ import annotations

import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import RawData
from fivefold.data.task import Split
from fivefold.errors import ConfigError, DataError

__all__ = ["check_classes", "class_names", "class_order", "looks_continuous", "renumber"]

MAX_ROWS_PER_CLASS_CONTINUOUS = 5
"""A numeric target whose classes hold fewer rows than this on average looks continuous."""

MIN_CLASSES_CONTINUOUS = 20
"""Below this many distinct values a numeric target is taken as classes (e.g. 1-5 stars)."""


def _number(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


def looks_continuous(names: tuple[str, ...], n_rows: int) -> bool:
    """Whether class names read as a continuous numeric target rather than classes.

    True when every name is a number and either some are fractional with more than 10
    distinct values, or there are at least :data:`MIN_CLASSES_CONTINUOUS` distinct values
    with fewer than :data:`MAX_ROWS_PER_CLASS_CONTINUOUS` rows per value on average.
    """
    values = [_number(n) for n in names]
    if not values or any(v is None for v in values):
        return False
    fractional = any(v is not None and not float(v).is_integer() for v in values)
    many = len(names) >= MIN_CLASSES_CONTINUOUS
    sparse = n_rows < MAX_ROWS_PER_CLASS_CONTINUOUS * len(names)
    return (fractional and len(names) > 10) or (many and sparse)


def check_classes(raw: RawData, cfg: DataConfig) -> None:
    """Refuse a target that looks continuous (see :func:`looks_continuous`).

    An explicit ``data.classes`` says the values are classes, and skips the check.

    Raises:
        DataError: naming the target, its distinct values and how to bin it.
    """
    if cfg.classes:
        return
    n = len(raw.pool) + (len(raw.test) if raw.test is not None else 0)
    names = raw.class_names
    if not looks_continuous(names, n):
        return
    values = sorted(v for v in (_number(x) for x in names) if v is not None)
    target = f"data.target {cfg.target!r}" if cfg.path else f"the labels of {cfg.dataset!r}"
    raise DataError(
        f"{target} looks continuous ({len(names)} distinct numbers from {values[0]:g} to "
        f"{values[-1]:g} in {n} rows): fivefold classifies; bin the target into a few classes "
        "first (e.g. pandas.qcut(df[target], 4, labels=False)), or list the classes in "
        "data.classes if these values really are classes"
    )


def class_names(cfg: DataConfig) -> tuple[str, ...]:
    """``data.classes`` as class names (numbers written as the loaders name them)."""
    return tuple(str(c) for c in cfg.classes)


def class_order(have: tuple[str, ...], wanted: tuple[str, ...]) -> torch.Tensor | None:
    """New id of every old class id for the order ``wanted`` (``data.classes``); None when
    it is empty (the loader's sorted order stays).

    Raises:
        ConfigError: ``wanted`` repeats a class, names one the data does not have, or leaves
            out one it has.
    """
    if not wanted:
        return None
    repeated = sorted({c for c in wanted if wanted.count(c) > 1})
    if repeated:
        raise ConfigError(f"data.classes: {repeated[0]!r} is listed twice; list each class once")
    unknown = [c for c in wanted if c not in have]
    missing = [c for c in have if c not in wanted]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"{', '.join(map(repr, unknown))} not in the data")
        if missing:
            parts.append(f"{', '.join(map(repr, missing))} missing")
        raise ConfigError(
            f"data.classes: {'; '.join(parts)}; the data's classes are "
            f"{', '.join(map(repr, have))} — list each of them once, in the order you want"
        )
    return torch.tensor([wanted.index(c) for c in have], dtype=torch.int64)


def renumber(split: Split, new_id: torch.Tensor) -> Split:
    """``split`` with class ids mapped through ``new_id`` (unlabelled rows, -1, stay)."""
    y = torch.where(split.y >= 0, new_id[split.y.clamp(min=0)], split.y)
    return Split(split.x, y, split.group, split.texts)
