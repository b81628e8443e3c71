"""Headline metrics every trial reports, whatever pillars are chosen."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fivefold.data.task import Task
from fivefold.pillars.metrics import accuracy, macro_f1, member_summary, nll
from fivefold.pillars.metrics.trust import prediction_warnings
from fivefold.training.subject import Subject

__all__ = ["CoreScores", "core_metrics", "members_summary"]


@dataclass
class CoreScores:
    """The headline metrics, and what a reader needs to trust them.

    Attributes:
        metrics: accuracy on train/val/test, test macro-F1 and test NLL.
        examples: per test row, ``correct`` (a string of 0/1) and ``nll`` (nats), for the
            scorecard's significance tests over test examples.
        warnings: lines saying when the test numbers mislead: collapse, chance level, a
            likely class-order mismatch (see ``prediction_warnings`` in
            :mod:`fivefold.pillars.metrics.trust`).
        checks: the facts behind the warnings (chance level, top predicted class...).
    """

    metrics: dict[str, float]
    examples: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)


def core_metrics(
    subject: Subject, task: Task, *, classes_option: str = "data.classes"
) -> CoreScores:
    """Accuracy on train/val/test, test macro-F1 and test NLL (natural log, mean per sample),
    with the test rows' per-example scores and the trust warnings of the test predictions.

    The same metric functions as the pillars (float64 on the subject's probabilities), so a
    trial's ``test_accuracy`` and its generalization pillar's never disagree.

    Args:
        subject: the model scored.
        task: its task.
        classes_option: how the user sets the class order, for the class-order warning.
    """
    out = CoreScores({})
    for name in ("train", "val", "test"):
        split = task.splits[name]
        if len(split) == 0:
            out.metrics[f"{name}_accuracy"] = math.nan  # an empty split has no accuracy, not 0
            continue
        y, prob = split.y.numpy(), subject.predict_proba(split.x).double().numpy()
        out.metrics[f"{name}_accuracy"] = accuracy(y, prob)
        if name == "test":
            out.metrics["test_macro_f1"] = macro_f1(y, prob)
            out.metrics["test_nll"] = nll(y, prob)
            out.examples = _examples(y, prob)
            out.warnings, out.checks = prediction_warnings(
                y, prob.argmax(1), task.class_names, classes_option=classes_option
            )
    return out


def _examples(y: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    """Per test row: correct (a 0/1 string) and NLL (nats, 6 significant digits)."""
    correct = prob.argmax(1) == y
    p_true = np.maximum(prob[np.arange(len(y)), y], np.finfo(np.float64).tiny)
    return {
        "correct": "".join("1" if c else "0" for c in correct.tolist()),
        "nll": [float(f"{v:.6g}") for v in (-np.log(p_true)).tolist()],
    }


def members_summary(subject: Subject, task: Task, bins: int = 15) -> dict[str, Any]:
    """How the ensemble compares with its members on the test split (see
    :func:`fivefold.pillars.metrics.disagreement.member_summary`): per-member accuracy, NLL
    and ECE, the mean and best member, the ensemble's gains, and member disagreement."""
    test = task.test
    member_prob = subject.member_proba(test.x).double().numpy()
    prob = subject.predict_proba(test.x).double().numpy()
    summary: dict[str, Any] = member_summary(test.y.numpy(), member_prob, prob, bins=bins)
    summary["combiner"] = subject.combiner.kind
    return summary
