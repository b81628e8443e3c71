"""Headline metrics every trial reports, whatever pillars are chosen."""

from __future__ import annotations

import math

from fivefold.data.task import Task
from fivefold.pillars.metrics import accuracy, macro_f1, nll
from fivefold.training.subject import Subject

__all__ = ["core_metrics"]


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
