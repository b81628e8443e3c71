"""Headline metrics every trial reports, whatever pillars are chosen."""

from __future__ import annotations

import math
from typing import Any

from fivefold.data.task import Task
from fivefold.pillars.metrics import accuracy, macro_f1, member_summary, nll
from fivefold.training.subject import Subject

__all__ = ["core_metrics", "members_summary"]


def core_metrics(subject: Subject, task: Task) -> dict[str, float]:
    """Accuracy on train/val/test, test macro-F1 and test NLL (natural log, mean per sample).

    The same metric functions as the pillars (float64 on the subject's probabilities), so a
    trial's ``test_accuracy`` and its generalization pillar's never disagree.
    """
    out: dict[str, float] = {}
    for name in ("train", "val", "test"):
        split = task.splits[name]
        if len(split) == 0:
            out[f"{name}_accuracy"] = math.nan  # an empty split has no accuracy, not 0
            continue
        y, prob = split.y.numpy(), subject.predict_proba(split.x).double().numpy()
        out[f"{name}_accuracy"] = accuracy(y, prob)
        if name == "test":
            out["test_macro_f1"] = macro_f1(y, prob)
            out["test_nll"] = nll(y, prob)
    return out


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
