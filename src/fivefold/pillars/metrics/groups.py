"""Group fairness metrics over a sensitive attribute.

Binary tasks follow fairlearn's definitions with class 1 as the positive label: selection
rate P(ŷ=1), TPR P(ŷ=1 | y=1), FPR P(ŷ=1 | y=0), and a rate with an empty denominator counts
as 0 (as fairlearn's confusion-matrix rates do). Multiclass tasks are scored one-vs-rest: every
class c in turn is the positive label, and the reported disparity is the worst over classes
(the largest difference, the smallest ratio). ``groups`` holds one group id per sample; only the
groups present are compared.
"""

from __future__ import annotations

import numpy as np

from fivefold.pillars.metrics.classification import Array, check_probs

__all__ = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "false_positive_rate",
    "group_accuracy",
    "positive_classes",
    "selection_rate",
    "true_positive_rate",
    "worst_group_accuracy",
]


def _rate(hits: Array, mask: Array) -> float:
    """Mean of ``hits`` where ``mask``; 0 when the mask is empty (fairlearn's convention)."""
    n = int(mask.sum())
    return float(hits[mask].sum() / n) if n else 0.0


def selection_rate(y_true: Array, y_pred: Array) -> float:
    """Share of binary predictions equal to 1 (fairlearn ``selection_rate``).

    Args:
        y_true: (N,) binary labels (unused; kept for the ``f(y_true, y_pred)`` signature).
        y_pred: (N,) binary predictions.

    Returns:
        P(ŷ = 1).

    Reference: Calders & Verwer, "Three naive Bayes approaches for discrimination-free
    classification", DMKD 21 (2010).
    """
    pred = np.asarray(y_pred) == 1
    return _rate(pred, np.ones_like(pred))


def true_positive_rate(y_true: Array, y_pred: Array) -> float:
    """P(ŷ = 1 | y = 1) of binary labels and predictions (0 when there are no positives).

    Args:
        y_true: (N,) binary labels.
        y_pred: (N,) binary predictions.

    Returns:
        the true positive rate.

    Reference: Hardt, Price & Srebro, "Equality of Opportunity in Supervised Learning",
    NeurIPS 2016.
    """
    return _rate(np.asarray(y_pred) == 1, np.asarray(y_true) == 1)


def false_positive_rate(y_true: Array, y_pred: Array) -> float:
    """P(ŷ = 1 | y = 0) of binary labels and predictions (0 when there are no negatives).

    Args:
        y_true: (N,) binary labels.
        y_pred: (N,) binary predictions.

    Returns:
        the false positive rate.

    Reference: Hardt, Price & Srebro, NeurIPS 2016.
    """
    return _rate(np.asarray(y_pred) == 1, np.asarray(y_true) != 1)


def positive_classes(n_classes: int) -> list[int]:
    """The classes taken in turn as the positive label: [1] when binary, else all classes."""
    return [1] if n_classes == 2 else list(range(n_classes))


def group_accuracy(y_true: Array, y_prob: Array, *, groups: Array) -> dict[int, float]:
    """Accuracy of the argmax prediction within every group present.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        groups: (N,) integer group ids.

    Returns:
        group id → accuracy, by increasing id.
    """
    y, p = check_probs(y_true, y_prob)
    g = np.asarray(groups).reshape(-1)
    correct = p.argmax(axis=1) == y
    return {int(k): float(correct[g == k].mean()) for k in np.unique(g)}


def worst_group_accuracy(y_true: Array, y_prob: Array, *, groups: Array) -> float:
    """Lowest per-group accuracy (any number of classes).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        groups: (N,) integer group ids.

    Returns:
        min over groups of the group accuracy.

    Reference: Sagawa et al., "Distributionally Robust Neural Networks for Group Shifts",
    ICLR 2020.
    """
    return min(group_accuracy(y_true, y_prob, groups=groups).values())


def _rates_by_group(y: Array, pred: Array, g: Array, positive: int) -> Array:
    """(G, 3) selection rate, TPR and FPR per group with ``positive`` as the positive class."""
    yb, pb = (y == positive).astype(np.int64), (pred == positive).astype(np.int64)
    rows = []
    for k in np.unique(g):
        m = g == k
        rows.append(
            [
                selection_rate(yb[m], pb[m]),
                true_positive_rate(yb[m], pb[m]),
                false_positive_rate(yb[m], pb[m]),
            ]
        )
    return np.asarray(rows, dtype=np.float64)


def _per_class_rates(y_true: Array, y_prob: Array, groups: Array) -> list[Array]:
    """One (G, 3) rate table per positive class (see :func:`positive_classes`)."""
    y, p = check_probs(y_true, y_prob)
    g = np.asarray(groups).reshape(-1)
    pred = p.argmax(axis=1)
    return [_rates_by_group(y, pred, g, c) for c in positive_classes(p.shape[1])]


def demographic_parity_difference(y_true: Array, y_prob: Array, *, groups: Array) -> float:
    """Largest minus smallest group selection rate (worst class when multiclass).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities (the argmax is the prediction).
        groups: (N,) integer group ids.

    Returns:
        difference in [0, 1]; 0 = demographic parity (lower is better).

    Reference: Calders & Verwer, DMKD 21 (2010); fairlearn ``demographic_parity_difference``.
    """
    tables = _per_class_rates(y_true, y_prob, groups)
    return float(max(t[:, 0].max() - t[:, 0].min() for t in tables))


def _ratio(rates: Array) -> float:
    """min / max of ``rates``; 1.0 when every rate is 0 (all groups equally never selected)."""
    top = float(rates.max())
    return float(rates.min()) / top if top > 0 else 1.0


def demographic_parity_ratio(y_true: Array, y_prob: Array, *, groups: Array) -> float:
    """Smallest over largest group selection rate (worst class when multiclass).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities (the argmax is the prediction).
        groups: (N,) integer group ids.

    Returns:
        ratio in [0, 1]; 1 = demographic parity (higher is better; the "80 % rule" asks ≥ 0.8).

    Reference: Feldman et al., "Certifying and Removing Disparate Impact", KDD 2015;
    fairlearn ``demographic_parity_ratio``.
    """
    return min(_ratio(t[:, 0]) for t in _per_class_rates(y_true, y_prob, groups))


def equalized_odds_difference(y_true: Array, y_prob: Array, *, groups: Array) -> float:
    """The larger of the TPR and FPR between-group differences (worst class when multiclass).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities (the argmax is the prediction).
        groups: (N,) integer group ids.

    Returns:
        difference in [0, 1]; 0 = equalized odds (lower is better).

    Reference: Hardt, Price & Srebro, NeurIPS 2016; fairlearn ``equalized_odds_difference``
    (``agg="worst_case"``).
    """
    tables = _per_class_rates(y_true, y_prob, groups)
    spread = [t[:, 1:].max(axis=0) - t[:, 1:].min(axis=0) for t in tables]
    return float(max(s.max() for s in spread))
