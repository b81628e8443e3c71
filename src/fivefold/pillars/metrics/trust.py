"""Whether a model's test predictions mean anything: chance level, collapse and class order.

A number is only worth reporting when the model beats what needs no model at all. Three
checks, each giving a warning line (none when the model is fine):

- **chance**: accuracy at or below the majority-class rate of the test labels (what always
  predicting the most common class scores), or not above it by a one-sided exact binomial
  test at α = 0.05 (an underpowered test set says so instead of a number that looks fine);
- **collapse**: one class predicted for at least 95 % of the rows while it holds a clearly
  smaller share of the labels (a model that has not learnt to tell classes apart);
- **class order**: accuracy far below chance while a relabelling of the predicted classes (the
  assignment maximising the confusion matrix's trace, Kuhn 1955) scores well: the model was
  most likely trained with another class order than the data's (string labels sort
  alphabetically), and the warning names the order that fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fivefold.pillars.metrics.classification import Array

__all__ = [
    "COLLAPSE_SHARE",
    "binomial_sf",
    "chance_accuracy",
    "prediction_warnings",
]

COLLAPSE_SHARE = 0.95
"""A model predicting one class for at least this share of the rows has collapsed (unless
that class holds nearly as many of the labels)."""


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed in log space (exact; n up to millions)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def chance_accuracy(y: Array, n_classes: int) -> tuple[float, int]:
    """Accuracy of always predicting the most common class of ``y``, and that class."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    top = int(counts.argmax())
    return float(counts[top] / max(1, counts.sum())), top


def _best_relabelling(confusion: Array) -> tuple[list[int], float]:
    """The relabelling of predicted classes that maximises the matched count, as
    ``order[true class] = predicted class``, and the accuracy it gives."""
    from scipy.optimize import linear_sum_assignment  # imported when a mismatch is suspected

    rows, cols = linear_sum_assignment(-confusion)
    order = [0] * confusion.shape[0]
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        order[r] = c
    return order, float(confusion[rows, cols].sum() / max(1, confusion.sum()))


def _name(names: Sequence[str], k: int) -> str:
    return names[k] if 0 <= k < len(names) else str(k)


def prediction_warnings(
    y: Array, pred: Array, class_names: Sequence[str], *, classes_option: str = "data.classes"
) -> tuple[list[str], dict[str, Any]]:
    """Warnings about predictions that do not mean what their accuracy suggests.

    Args:
        y: (N,) true labels in ``[0, K)``.
        pred: (N,) predicted labels.
        class_names: the K class names, id order.
        classes_option: how the user sets the class order (named in the class-order warning).

    Returns:
        the warning lines (empty when none applies), and the facts they rest on:
        ``accuracy``, ``chance_accuracy``, ``majority_class``, ``p_above_chance``,
        ``top_predicted_class``, ``top_predicted_share`` (and ``relabelled_accuracy``,
        ``relabelled_order`` when the class order is suspect).
    """
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    k, n = len(class_names), len(y)
    if n == 0:
        return [], {}
    acc = float(np.mean(y == pred))
    chance, majority = chance_accuracy(y, k)
    p_value = binomial_sf(int(np.sum(y == pred)), n, chance)
    shares = np.bincount(pred, minlength=k) / n
    top = int(shares.argmax())
    true_share = float(np.mean(y == top))
    facts: dict[str, Any] = {
        "accuracy": acc,
        "chance_accuracy": chance,
        "majority_class": _name(class_names, majority),
        "p_above_chance": p_value,
        "top_predicted_class": _name(class_names, top),
        "top_predicted_share": float(shares[top]),
    }
    out: list[str] = []
    if shares[top] >= COLLAPSE_SHARE and true_share < COLLAPSE_SHARE - 0.1:
        out.append(
            f"collapsed: predicts {_name(class_names, top)!r} for {shares[top]:.0%} of the {n} "
            f"test rows ({true_share:.0%} of the labels are {_name(class_names, top)!r}); the "
            "model has not learnt to tell the classes apart"
        )
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (y, np.clip(pred, 0, k - 1)), 1.0)
    order, relabelled = _best_relabelling(confusion) if acc < chance else ([], acc)
    if acc < chance and relabelled >= max(0.5, acc + 0.3) and relabelled > chance:
        facts["relabelled_accuracy"], facts["relabelled_order"] = relabelled, order
        names = [_name(class_names, order.index(c)) for c in range(k)]
        out.append(
            f"far below chance: accuracy {acc:.4f} against {chance:.4f} for always predicting "
            f"{_name(class_names, majority)!r}, but {relabelled:.4f} if the model's class ids "
            f"mean {', '.join(map(repr, names))} (id 0 first): the model was likely trained "
            f"with another class order; set {classes_option} to {','.join(names)}"
        )
    elif acc <= chance:
        out.append(
            f"at or below chance: accuracy {acc:.4f} against {chance:.4f} for always "
            f"predicting {_name(class_names, majority)!r} (the commonest test class)"
        )
    elif p_value >= 0.05:
        out.append(
            f"not clearly above chance: accuracy {acc:.4f} against {chance:.4f} for always "
            f"predicting {_name(class_names, majority)!r}, p = {p_value:.2g} on {n} test rows "
            "(one-sided binomial test); more test rows would tell"
        )
    return out, facts
