"""Selective prediction: the risk-coverage curve of confidence ranking, AURC and friends.

The model answers its k most confident samples and abstains on the rest; risk is the error
rate among the answered ones. Confidence is the max class probability unless a score is given
(e.g. an ensemble's negative mutual information, :mod:`.disagreement`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fivefold.pillars.metrics.classification import Array, check_probs

__all__ = [
    "accuracy_at_coverage",
    "aurc",
    "excess_aurc",
    "risk_coverage_curve",
    "risk_coverage_table",
]


def _tie_groups(sorted_conf: Array) -> tuple[Array, Array]:
    """For each position of a sorted array: the start index and the size of its run of ties."""
    new = np.r_[True, sorted_conf[1:] != sorted_conf[:-1]]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, len(sorted_conf)])
    group = np.cumsum(new) - 1
    return starts[group], sizes[group]


def risk_coverage_curve(
    y_true: Array, y_prob: Array, *, confidence: Array | None = None
) -> tuple[Array, Array, Array]:
    """Risk at every coverage k/N, k = 1..N, answering the k most confident samples.

    Ties in confidence are resolved by expectation: within a run of equal confidences the
    errors are spread evenly (the mean over all tie-breaking orders), so the curve does not
    depend on the order of the samples.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities (the prediction is their argmax).
        confidence: (N,) scores that rank the samples (higher = answered first); None: the max
            class probability.

    Returns:
        coverage (N,) = k/N, risk (N,) = error rate among the top k, and threshold (N,) =
        the confidence of the k-th most confident sample.

    Reference: Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks",
    NeurIPS 2017.
    """
    y, p = check_probs(y_true, y_prob)
    conf = p.max(axis=1) if confidence is None else np.asarray(confidence, np.float64).ravel()
    if conf.shape != y.shape:
        raise ValueError(f"expected confidence of shape {y.shape}, got {conf.shape}")
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    errors = np.cumsum(p.argmax(axis=1)[order] != y[order]).astype(np.float64)
    start, size = _tie_groups(sorted_conf)
    before = np.where(start > 0, errors[np.maximum(start - 1, 0)], 0.0)
    in_group = errors[start + size - 1] - before
    k = np.arange(1, len(y) + 1, dtype=np.float64)
    expected_errors = before + (k - start) * in_group / size
    return k / len(y), expected_errors / k, sorted_conf


def aurc(y_true: Array, y_prob: Array, *, confidence: Array | None = None) -> float:
    """Area under the risk-coverage curve: the mean of the risks at k = 1..N.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        confidence: (N,) ranking scores; None: the max class probability.

    Returns:
        AURC in [0, 1] (lower is better).

    Reference: Geifman, Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural
    Classifiers", ICLR 2019.
    """
    return float(np.mean(risk_coverage_curve(y_true, y_prob, confidence=confidence)[1]))


def excess_aurc(y_true: Array, y_prob: Array, *, confidence: Array | None = None) -> float:
    """AURC minus the AURC of a perfect ranking (every error ranked below every correct one).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        confidence: (N,) ranking scores; None: the max class probability.

    Returns:
        E-AURC ≥ 0 (lower is better): the part of AURC due to the confidence ranking alone.

    Reference: Geifman, Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural
    Classifiers", ICLR 2019.
    """
    y, p = check_probs(y_true, y_prob)
    n, m = len(y), int(np.sum(p.argmax(axis=1) != y))
    k = np.arange(1, n + 1, dtype=np.float64)
    optimal = float(np.mean(np.maximum(0.0, k - (n - m)) / k))
    return aurc(y, p, confidence=confidence) - optimal


def accuracy_at_coverage(y_true: Array, y_prob: Array, *, coverage: float = 0.9) -> float:
    """Accuracy on the ⌈coverage·N⌉ most confident samples (ties as in the curve).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        coverage: share of samples answered, in (0, 1].

    Returns:
        selective accuracy in [0, 1].

    Reference: Geifman & El-Yaniv, "Selective Classification for Deep Neural Networks",
    NeurIPS 2017.
    """
    _, risk, _ = risk_coverage_curve(y_true, y_prob)
    k = min(len(risk), max(1, math.ceil(coverage * len(risk) - 1e-9)))
    return float(1.0 - risk[k - 1])


def risk_coverage_table(
    y_true: Array, y_prob: Array, *, max_points: int = 50
) -> list[dict[str, Any]]:
    """The risk-coverage curve subsampled to at most ``max_points`` evenly spaced points.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        max_points: most rows returned (the first and last coverage are always kept).

    Returns:
        rows ``coverage``, ``risk`` and ``threshold`` (confidence), by increasing coverage.
    """
    coverage, risk, threshold = risk_coverage_curve(y_true, y_prob)
    n = len(coverage)
    idx = np.unique(np.round(np.linspace(0, n - 1, min(n, max_points))).astype(np.int64))
    return [
        {"coverage": float(coverage[i]), "risk": float(risk[i]), "threshold": float(threshold[i])}
        for i in idx
    ]
