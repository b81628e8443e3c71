"""Experience streams cut from one Task: class-incremental and domain-incremental.

An :class:`Experience` holds a copy of the parent task restricted to what that experience
sees. Every copy keeps the parent's ``class_names`` (so a model's head covers all classes
from the start, as in class-incremental learning with a single head) and drops its
``shifts``; splits other than train, val and test (e.g. "unlabeled") are dropped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

from fivefold.data.shifts import shift_split
from fivefold.data.task import Split, Task
from fivefold.errors import ConfigError
from fivefold.seeding import child_seed, torch_generator

__all__ = ["DOMAIN_MODALITIES", "Experience", "class_incremental", "domain_incremental"]

SPLITS = ("train", "val", "test")

DOMAIN_MODALITIES: dict[str, tuple[str, ...]] = {
    "rotation": ("image",),
    "noise": ("image", "sequence", "tabular"),
}
"""Input kinds each domain-incremental transform applies to."""


@dataclass(frozen=True)
class Experience:
    """One step of a continual stream.

    Attributes:
        name: "exp0", "exp1", ... in stream order.
        classes: the class ids whose rows this experience holds (all classes for
            domain-incremental streams).
        task: the parent task with train/val/test restricted (or transformed) for this
            experience; ``class_names`` of the full task, no shifts.
    """

    name: str
    classes: tuple[int, ...]
    task: Task


def _restricted(task: Task, splits: dict[str, Split], name: str) -> Task:
    info = {**task.info, "experience": name}
    return replace(task, splits=splits, shifts={}, info=info)


def _rows_of(split: Split, classes: tuple[int, ...]) -> Split:
    keep = torch.isin(split.y, torch.tensor(classes, dtype=split.y.dtype))
    return split.subset(torch.nonzero(keep).flatten())


def _class_order(n_classes: int, seed: int | None, order: Sequence[int] | None) -> list[int]:
    if order is not None:
        chosen = [int(c) for c in order]
        if sorted(chosen) != list(range(n_classes)):
            raise ConfigError(
                f"class_incremental: order must list every class id 0..{n_classes - 1} "
                f"exactly once, got {chosen}"
            )
        return chosen
    if seed is None:
        return list(range(n_classes))
    perm = torch.randperm(n_classes, generator=torch_generator(seed, "class_incremental"))
    return [int(c) for c in perm.tolist()]


def class_incremental(
    task: Task, n_experiences: int, *, seed: int | None, order: Sequence[int] | None = None
) -> list[Experience]:
    """Split the classes into ``n_experiences`` equal groups, one experience per group.

    The class order is ``order`` when given, else a permutation drawn from ``seed`` (via
    ``torch_generator(seed, "class_incremental")``), else (``seed`` None) the sorted class
    ids. Experience ``t`` holds classes ``order[t*k : (t+1)*k]`` with ``k = C /
    n_experiences``, and the train, val and test rows of those classes (in their original
    order; a split may be empty when it lacks those classes).

    Args:
        task: the full task.
        n_experiences: number of experiences; must divide the number of classes.
        seed: seed of the class permutation, or None for the sorted order.
        order: an explicit class order (a permutation of 0..C-1); overrides ``seed``.

    Returns:
        the experiences in stream order.

    Raises:
        ConfigError: ``n_experiences`` is < 1, exceeds or does not divide the number of
            classes, or ``order`` is not a permutation of the class ids.

    Reference: van de Ven & Tolias, "Three scenarios for continual learning", 2019
    (class-incremental learning).
    """
    n_classes = task.n_classes
    if not 1 <= n_experiences <= n_classes or n_classes % n_experiences:
        raise ConfigError(
            f"class_incremental: n_experiences must divide the {n_classes} classes "
            f"(1..{n_classes}), got {n_experiences}; pick a divisor of {n_classes}"
        )
    classes = _class_order(n_classes, seed, order)
    size = n_classes // n_experiences
    out = []
    for t in range(n_experiences):
        group = tuple(classes[t * size : (t + 1) * size])
        splits = {s: _rows_of(task.splits[s], group) for s in SPLITS if s in task.splits}
        name = f"exp{t}"
        out.append(Experience(name, group, _restricted(task, splits, name)))
    return out


def _check_domain(task: Task, kind: str, max_level: float, n_experiences: int) -> None:
    if kind not in DOMAIN_MODALITIES:
        raise ConfigError(
            f"domain_incremental: kind must be one of {', '.join(DOMAIN_MODALITIES)}, got {kind!r}"
        )
    allowed = DOMAIN_MODALITIES[kind]
    bad = sorted({i.kind for i in task.inputs.values()} - set(allowed))
    if bad:
        raise ConfigError(
            f"domain_incremental: {kind} does not apply to {', '.join(bad)} inputs; "
            f"it needs {', '.join(allowed)} inputs (pick another kind)"
        )
    if n_experiences < 1:
        raise ConfigError(f"domain_incremental: n_experiences must be >= 1, got {n_experiences}")
    if kind == "noise" and not max_level >= 0:
        raise ConfigError(
            f"domain_incremental: max_level (noise std) must be >= 0, got {max_level}"
        )


def domain_incremental(
    task: Task,
    n_experiences: int,
    *,
    kind: Literal["rotation", "noise"],
    max_level: float,
    seed: int,
    partition_train: bool = True,
) -> list[Experience]:
    """Every class in every experience, each under a stronger input transform.

    Experience ``t`` of ``n`` has level ``max_level * t / (n - 1)`` (0 for a single
    experience): rotation by that many degrees (through :func:`fivefold.transforms.image.
    affine`) or gaussian noise of that std (through :func:`fivefold.transforms.common.
    gaussian_noise`), applied with :func:`fivefold.data.shifts.shift_split`, so a noise
    level means what it means in ``data.shifts``: a std in units of the input range when the
    input has bounds, else of each feature's std; one-hot columns stay clean and values are
    clamped to the bounds. Noise also applies to sequence and tabular inputs; text never.
    The noise of experience ``t`` and split ``s`` is seeded by ``child_seed(seed,
    "domain_incremental", t, s)``. Level 0 leaves the data untouched (the same tensors).

    With ``partition_train`` (the default) each experience trains on new samples: the train
    rows are split by a seeded permutation into ``n`` disjoint near-equal parts (each kept
    in its original order) and experience ``t`` gets part ``t``; val and test are complete
    in every experience (transformed at its level).

    Args:
        task: the full task.
        n_experiences: number of experiences, >= 1.
        kind: "rotation" (image inputs) or "noise" (image, sequence or tabular inputs).
        max_level: the last experience's level: degrees, or noise std (>= 0).
        seed: seed of the train partition and of the noise.
        partition_train: give each experience its own disjoint train rows.

    Returns:
        the experiences in stream order.

    Raises:
        ConfigError: an unknown kind, a kind that does not fit an input, ``n_experiences <
            1``, a negative noise level or fewer train rows than experiences.

    Reference: van de Ven & Tolias, "Three scenarios for continual learning", 2019
    (domain-incremental learning; rotated and permuted MNIST).
    """
    _check_domain(task, kind, max_level, n_experiences)
    train = task.splits["train"]
    if partition_train:
        if len(train) < n_experiences:
            raise ConfigError(
                f"domain_incremental: {len(train)} train rows cannot be split among "
                f"{n_experiences} experiences; use fewer experiences or partition_train=false"
            )
        perm = torch.randperm(len(train), generator=torch_generator(seed, "domain_incremental"))
        parts = [p.sort().values for p in torch.tensor_split(perm, n_experiences)]
    classes = tuple(range(task.n_classes))
    out = []
    for t in range(n_experiences):
        level = max_level * t / (n_experiences - 1) if n_experiences > 1 else 0.0
        splits = {}
        for s in SPLITS:
            if s not in task.splits:
                continue
            split = task.splits[s]
            if s == "train" and partition_train:
                split = split.subset(parts[t])
            if level != 0:
                split = shift_split(
                    split, task.inputs, kind, level, child_seed(seed, "domain_incremental", t, s)
                )
            splits[s] = split
        name = f"exp{t}"
        out.append(Experience(name, classes, _restricted(task, splits, name)))
    return out
