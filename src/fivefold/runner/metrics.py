"""Headline metrics every trial reports, whatever pillars are chosen."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from fivefold.data.task import Task
from fivefold.pillars.base import Subject

__all__ = ["core_metrics"]


def core_metrics(subject: Subject, task: Task) -> dict[str, float]:
    """Accuracy on train/val/test, test macro-F1 and test NLL (natural log, mean per sample)."""
    out: dict[str, float] = {}
    for name in ("train", "val", "test"):
        split = task.splits[name]
        prob = subject.predict_proba(split.x)
        out[f"{name}_accuracy"] = float((prob.argmax(1) == split.y).float().mean())
        if name == "test":
            out["test_macro_f1"] = float(
                f1_score(
                    split.y.numpy(),
                    prob.argmax(1).numpy(),
                    labels=list(range(task.n_classes)),
                    average="macro",
                    zero_division=0,
                )
            )
            out["test_nll"] = float(F.nll_loss(torch.log(prob.clamp_min(1e-12)), split.y))
    return out
