"""The parts of the robustness pillar: corruption accuracy, adversarial accuracy, sanity checks.

Each function returns plain table rows (dicts of names and numbers) that
:mod:`fivefold.pillars.robustness.pillar` turns into metrics.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from fivefold.attacks.apgd import apgd
from fivefold.attacks.gradient import AttackResult, Box, Norm, attack_boxes, fgsm, frozen_eval, pgd
from fivefold.data.task import Inputs, Split, Task, index_inputs
from fivefold.pillars.robustness.corruptions import corrupt, corruption_names
from fivefold.pillars.robustness.corruptions_text import TEXT_CORRUPTIONS
from fivefold.seeding import torch_generator
from fivefold.training.predict import predict_logits
from fivefold.training.subject import Subject

__all__ = [
    "AttackSettings",
    "adversarial_rows",
    "available_corruptions",
    "corrupt_split",
    "corruption_rows",
    "sanity_notes",
    "has_raw_text",
]

Row = dict[str, Any]
Attack = Callable[..., AttackResult]
"""``(model, x, y, eps, boxes, *, gen) -> AttackResult``."""


def has_raw_text(task: Task, split: Split) -> bool:
    """Whether ``split`` can be corrupted and attacked as raw text (one text input)."""
    kinds = [info.kind for info in task.inputs.values()]
    return kinds.count("text") == 1 and split.texts is not None and task.text_encoder is not None


def available_corruptions(task: Task, split: Split) -> list[str]:
    """Corruption names that apply to some input of ``task`` (text ones need raw texts)."""
    names = corruption_names(task.inputs)
    return names + (list(TEXT_CORRUPTIONS) if has_raw_text(task, split) else [])


def corrupt_split(split: Split, task: Task, name: str, severity: int, seed: int) -> Inputs:
    """Inputs of ``split`` under corruption ``name`` at ``severity``, every input corrupted.

    Args:
        split: the clean split.
        task: gives the modality of every input and the text encoder.
        name: a name from :func:`available_corruptions`.
        severity: 0..5.
        seed: the experiment seed (the generator is a child of it, per name and severity).

    Returns:
        the corrupted inputs, a tensor or a dict like ``split.x``.
    """
    gen = torch_generator(seed, "corruption", name, severity)
    x = split.x if isinstance(split.x, dict) else {"x": split.x}
    out = {k: corrupt(v, task.inputs[k], name, severity, gen) for k, v in x.items()}
    if name in TEXT_CORRUPTIONS and has_raw_text(task, split) and task.text_encoder is not None:
        key = next(k for k, info in task.inputs.items() if info.kind == "text")
        texts = TEXT_CORRUPTIONS[name](split.texts or (), severity, gen)
        out[key] = task.text_encoder(texts).to(x[key].dtype)
    return out if isinstance(split.x, dict) else out["x"]


def accuracy(subject: Subject, x: Inputs, y: torch.Tensor) -> float:
    """Accuracy of ``subject``'s predictions on ``x`` (0 for no samples)."""
    if len(y) == 0:
        return 0.0
    pred = subject.predict(x)
    return float((pred == y).float().mean())


def corruption_rows(
    subject: Subject,
    split: Split,
    task: Task,
    names: Sequence[str],
    severities: Sequence[int],
    *,
    seed: int,
) -> list[Row]:
    """One row per corruption and severity: {"corruption", "severity", "accuracy"}, plus
    "accuracy_unadapted" for a subject that adapts while evaluated (test-time adaptation)."""
    source = subject.unadapted()
    rows: list[Row] = []
    for name in names:
        for s in severities:
            x = corrupt_split(split, task, name, s, seed)
            row: Row = {
                "corruption": name,
                "severity": s,
                "accuracy": accuracy(subject, x, split.y),
            }
            if source is not None:
                row["accuracy_unadapted"] = accuracy(source, x, split.y)
            rows.append(row)
    return rows


@dataclass(frozen=True)
class AttackSettings:
    """How hard the gradient attacks try (see ``RobustnessConfig`` for the meaning)."""

    steps: int = 10
    step_size: float = 2.5
    random_start: bool = True
    autoattack: bool = True
    apgd_steps: int = 10
    batch: int = 256


def attack_suite(norm: Norm, settings: AttackSettings, n_classes: int) -> dict[str, Attack]:
    """Attack name → attack for one norm: FGSM (L∞ only), PGD and, with autoattack, APGD-CE
    and APGD-DLR (3 or more classes)."""
    s = settings
    suite: dict[str, Attack] = {}
    if norm == "linf":
        suite["fgsm"] = fgsm
    suite["pgd"] = partial(
        pgd, norm=norm, steps=s.steps, step_size=s.step_size, random_init=s.random_start
    )
    if s.autoattack:
        suite["apgd_ce"] = partial(apgd, norm=norm, loss="ce", steps=s.apgd_steps)
        if n_classes >= 3:
            suite["apgd_dlr"] = partial(apgd, norm=norm, loss="dlr", steps=s.apgd_steps)
    return suite


def robust_flags(
    model: nn.Module,
    split: Split,
    attack: Attack,
    eps: float,
    boxes: dict[str, Box],
    *,
    gen: torch.Generator,
    batch: int,
) -> torch.Tensor:
    """(N,) True where every iterate of ``attack`` is still classified correctly, in chunks."""
    flags = [
        attack(
            model,
            index_inputs(split.x, slice(i, i + batch)),
            split.y[i : i + batch],
            eps,
            boxes,
            gen=gen,
        ).correct
        for i in range(0, len(split), batch)
    ]
    return torch.cat(flags) if flags else torch.zeros(0, dtype=torch.bool)


def adversarial_rows(
    model: nn.Module,
    split: Split,
    task: Task,
    eps_list: Sequence[float],
    norm: Norm,
    *,
    settings: AttackSettings,
    seed: int,
) -> list[Row]:
    """One row per eps: accuracy under each attack and the per-sample worst case.

    ``model`` is what the attacks take gradients through: a subject's ``differentiable()``
    (for several members, the log of their mean probabilities). Only clean-correct samples
    are attacked (AutoAttack's convention), so every accuracy is a share of all
    ``len(split)`` samples and at most the clean accuracy.
    """
    boxes, n = attack_boxes(task.inputs), max(len(split), 1)
    suite = attack_suite(norm, settings, task.n_classes)
    with frozen_eval(model):
        clean = predict_logits(model, split.x, settings.batch).argmax(1) == split.y
        targets = split.subset(clean.nonzero()[:, 0])
        rows = []
        for eps in eps_list:
            row: Row = {"norm": norm, "eps": eps, "clean": float(clean.sum()) / n}
            worst = torch.ones(len(targets), dtype=torch.bool)
            for name, attack in suite.items():
                gen = torch_generator(seed, "attack", name, norm, eps)
                flags = robust_flags(
                    model, targets, attack, eps, boxes, gen=gen, batch=settings.batch
                )
                row[name], worst = float(flags.sum()) / n, worst & flags
            row["worst_case"] = float(worst.sum()) / n
            rows.append(row)
    return rows


def sanity_notes(rows: Sequence[Row], large: Row | None, tolerance: float = 0.01) -> list[str]:
    """Gradient-masking checks of Carlini et al. 2019 as warnings.

    Args:
        rows: adversarial rows of one norm (see :func:`adversarial_rows`).
        large: the row of PGD at a very large eps, or None.
        tolerance: allowed rise of accuracy with eps.

    Returns:
        one note per failed check: accuracy rising with eps, above clean accuracy, or not
        near 0 at a very large eps.

    Reference: Carlini et al., "On Evaluating Adversarial Robustness", 2019, section 5.
    """
    notes = []
    ordered = sorted(rows, key=lambda r: float(r["eps"]))
    attacks = [k for k in (ordered[0] if ordered else {}) if k not in ("norm", "eps", "clean")]
    for name in attacks:
        for a, b in itertools.pairwise(ordered):
            if b[name] > a[name] + tolerance:
                notes.append(
                    f"gradient-masking check: {b['norm']} {name} accuracy rises with eps "
                    f"({a[name]:.3f} at eps={a['eps']:g} → {b[name]:.3f} at eps={b['eps']:g})"
                )
        notes += [
            f"gradient-masking check: {r['norm']} {name} accuracy {r[name]:.3f} exceeds clean "
            f"accuracy {r['clean']:.3f} at eps={r['eps']:g}"
            for r in ordered
            if r[name] > r["clean"] + 1e-9
        ]
    if large is not None and large["pgd"] >= 0.1:
        notes.append(
            f"gradient-masking check: PGD accuracy is {large['pgd']:.3f} at eps={large['eps']:g} "
            "(≥ 0.10); at so large an eps it should be ~0, so gradients may be masked or the "
            "attack cannot reach the features the model uses"
        )
    return notes
