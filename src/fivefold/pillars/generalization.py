"""Generalization: how well the model does on held-out and on distribution-shifted data.

Reports test accuracy (the headline), macro-F1 and NLL, the train-test and val-test accuracy
gaps, and the accuracy on every shift split of the task (transform shifts such as
"rotation=30" and held-out domains such as "domain=Asia").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fivefold.data.task import Split, Task
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, Subject
from fivefold.pillars.metrics import Array, accuracy, macro_f1, nll
from fivefold.schema import option

__all__ = [
    "GeneralizationConfig",
    "GeneralizationPillar",
    "parse_shift_name",
    "shift_metrics",
    "split_scores",
]


@dataclass(frozen=True)
class GeneralizationConfig:
    """Options of the generalization pillar."""

    shifts: bool = option(True, help="also score every shift split of the task (data.shifts)")


def parse_shift_name(name: str) -> tuple[str, float | None]:
    """Split a shift name "kind=strength" into its kind and numeric strength.

    Args:
        name: e.g. "rotation=30", "noise=0.1" or "domain=Asia".

    Returns:
        (kind, strength); strength is None when it is not a number (a domain name) or absent.
    """
    kind, _, level = name.partition("=")
    try:
        return kind, float(level)
    except ValueError:
        return kind, None


def split_scores(prob: Array, split: Split) -> dict[str, Any]:
    """Size, accuracy, macro-F1 and NLL of class probabilities on one split.

    Args:
        prob: (N, C) class probabilities of the split's inputs.
        split: the split (its labels ``y``).

    Returns:
        a row ``n``, ``accuracy``, ``macro_f1``, ``nll``.
    """
    y = split.y.numpy()
    return {
        "n": len(split),
        "accuracy": accuracy(y, prob),
        "macro_f1": macro_f1(y, prob),
        "nll": nll(y, prob),
    }


def _probs(subject: Subject, split: Split) -> Array:
    """(N, C) float64 class probabilities of the model on ``split``."""
    out: Array = subject.predict_proba(split.x).double().numpy()
    return out


def _split_table(subject: Subject, task: Task) -> list[dict[str, Any]]:
    """One score row per non-empty train / val / test split."""
    return [
        {"split": name, **split_scores(_probs(subject, task.splits[name]), task.splits[name])}
        for name in ("train", "val", "test")
        if name in task.splits and len(task.splits[name]) > 0
    ]


def _shift_table(subject: Subject, task: Task, test_accuracy: float) -> list[dict[str, Any]]:
    """One row per non-empty shift split: name, kind, strength, scores and accuracy drop."""
    rows = []
    for name, split in task.shifts.items():
        if len(split) == 0:
            continue
        kind, strength = parse_shift_name(name)
        scores = split_scores(_probs(subject, split), split)
        drop = test_accuracy - scores["accuracy"]
        row = {"shift": name, "kind": kind, "strength": strength, **scores, "drop": drop}
        source = subject.unadapted()
        if source is not None:
            before = split_scores(_probs(source, split), split)["accuracy"]
            row |= {"accuracy_unadapted": before, "adaptation_gain": scores["accuracy"] - before}
        rows.append(row)
    return rows


def _unadapted_metrics(
    subject: Subject, task: Task, test_accuracy: float, shift_rows: list[dict[str, Any]]
) -> tuple[dict[str, Metric], list[str]]:
    """Test and mean shift accuracy of the unadapted model, and the gain of adapting, for a
    subject that adapts while evaluated (empty otherwise)."""
    source = subject.unadapted()
    if source is None:
        return {}, []
    before = split_scores(_probs(source, task.test), task.test)["accuracy"]
    out = {
        "test_accuracy_unadapted": Metric(before, True),
        "test_adaptation_gain": Metric(test_accuracy - before, True),
    }
    if shift_rows:
        mean = sum(r["accuracy_unadapted"] for r in shift_rows) / len(shift_rows)
        after = sum(r["accuracy"] for r in shift_rows) / len(shift_rows)
        out["shift_accuracy_mean_unadapted"] = Metric(mean, True)
        out["shift_adaptation_gain"] = Metric(after - mean, True)
    note = (
        f"accuracies are after {subject.adaptation}, each split adapted on from the trained "
        "weights; *_unadapted: the same model without adaptation"
    )
    return out, [note]


def _split_metrics(rows: list[dict[str, Any]]) -> dict[str, Metric]:
    """Headline test metrics plus per-split accuracies and the generalization gaps."""
    by = {r["split"]: r for r in rows}
    test = by["test"]
    out = {
        "test_accuracy": Metric(test["accuracy"], True),
        "test_macro_f1": Metric(test["macro_f1"], True),
        "test_nll": Metric(test["nll"], False),
    }
    for name in ("train", "val"):
        if name in by:
            out[f"{name}_accuracy"] = Metric(by[name]["accuracy"], True)
            out[f"{name}_test_gap"] = Metric(by[name]["accuracy"] - test["accuracy"], False)
    return out


def shift_metrics(rows: list[dict[str, Any]], test_accuracy: float) -> dict[str, Metric]:
    """Mean, min and per-shift accuracy over the shift rows, and the mean drop from test.

    Args:
        rows: shift table rows (``shift`` and ``accuracy``).
        test_accuracy: accuracy on the clean test split.

    Returns:
        ``shift_accuracy_mean``, ``shift_accuracy_min``, ``shift_accuracy_drop`` and
        ``shift[<name>].accuracy``; empty when there are no rows.
    """
    if not rows:
        return {}
    accs = [float(r["accuracy"]) for r in rows]
    mean = sum(accs) / len(accs)
    out = {
        "shift_accuracy_mean": Metric(mean, True),
        "shift_accuracy_min": Metric(min(accs), True),
        "shift_accuracy_drop": Metric(test_accuracy - mean, False),
    }
    out.update({f"shift[{r['shift']}].accuracy": Metric(r["accuracy"], True) for r in rows})
    return out


class GeneralizationPillar(Pillar):
    """Test accuracy (headline), macro-F1, NLL, accuracy gaps and accuracy under shift."""

    Config = GeneralizationConfig

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        """Score ``subject`` on every split and shift of ``task`` (deterministic; no sampling).

        Args:
            subject: the trained model.
            task: the task with its splits and shifts.
            seed: unused (kept for the pillar interface).

        Returns:
            headline ``test_accuracy``; tables ``splits`` and ``shifts`` (when the task has
            shift splits and the ``shifts`` option is on).
        """
        split_rows = _split_table(subject, task)
        metrics = _split_metrics(split_rows)
        test_acc = metrics["test_accuracy"].value
        result = PillarResult("test_accuracy", metrics, {"splits": split_rows})
        if not self.config.shifts:
            adapted, notes = _unadapted_metrics(subject, task, test_acc, [])
            metrics.update(adapted)
            result.notes += notes
            return result
        shift_rows = _shift_table(subject, task, test_acc)
        adapted, notes = _unadapted_metrics(subject, task, test_acc, shift_rows)
        metrics.update(adapted)
        result.notes += notes
        if not shift_rows:
            result.notes.append(
                "no shift splits: add data.shifts or data.test_domains to score accuracy "
                "under distribution shift"
            )
            return result
        result.tables["shifts"] = shift_rows
        metrics.update(shift_metrics(shift_rows, test_acc))
        return result


PILLARS.register(
    "generalization",
    help="test accuracy, macro-F1, NLL, train/val-test gaps and accuracy on shift splits",
)(GeneralizationPillar)
