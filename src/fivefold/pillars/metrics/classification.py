"""Classification metrics on numpy arrays: accuracy, macro-F1, NLL and the Brier score.

Every metric has the signature ``f(y_true (N,) int, y_prob (N, C) float) -> float``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Array",
    "accuracy",
    "brier_score",
    "check_probs",
    "macro_f1",
    "nll",
    "softmax",
]

Array = npt.NDArray[Any]
"""Any numpy array; metric docstrings give the expected shape and dtype."""

NLL_CLIP = 1e-12


def check_probs(y_true: Array, y_prob: Array) -> tuple[Array, Array]:
    """Validate and convert labels and probabilities.

    Args:
        y_true: (N,) integer labels in [0, C).
        y_prob: (N, C) class probabilities.

    Returns:
        (N,) int64 labels and (N, C) float64 probabilities.

    Raises:
        ValueError: the shapes do not match or N is 0.
    """
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(y_prob, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise ValueError(f"expected y_true (N,) and y_prob (N, C), got {y.shape} and {p.shape}")
    return y, p


def softmax(logits: Array, temperature: float = 1.0) -> Array:
    """Numerically stable softmax of ``logits / temperature`` along the last axis.

    Args:
        logits: (N, C) logits.
        temperature: T > 0.

    Returns:
        (N, C) float64 probabilities.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: Array = e / e.sum(axis=-1, keepdims=True)
    return out


def accuracy(y_true: Array, y_prob: Array) -> float:
    """Share of samples whose argmax class is the label.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities (or scores; only the argmax matters).

    Returns:
        accuracy in [0, 1].
    """
    y, p = check_probs(y_true, y_prob)
    return float(np.mean(p.argmax(axis=1) == y))


def macro_f1(y_true: Array, y_prob: Array) -> float:
    """Unweighted mean over all C classes of the per-class F1 of the argmax prediction.

    A class with no true and no predicted samples scores 0 (scikit-learn with
    ``labels=range(C), zero_division=0``).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.

    Returns:
        macro-F1 in [0, 1].

    Reference: van Rijsbergen, "Information Retrieval" (1979), F-measure; macro averaging as in
    scikit-learn ``f1_score(average="macro")``.
    """
    y, p = check_probs(y_true, y_prob)
    classes = np.arange(p.shape[1])
    pred = p.argmax(axis=1)
    tp = np.array([np.sum((pred == c) & (y == c)) for c in classes], dtype=np.float64)
    fp = np.array([np.sum((pred == c) & (y != c)) for c in classes], dtype=np.float64)
    fn = np.array([np.sum((pred != c) & (y == c)) for c in classes], dtype=np.float64)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def nll(y_true: Array, y_prob: Array) -> float:
    """Mean negative log-likelihood (natural log) of the true class, p clipped at 1e-12.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.

    Returns:
        NLL ≥ 0 in nats per sample.

    Reference: Good, "Rational Decisions", JRSS-B 14 (1952) — the logarithmic scoring rule.
    """
    y, p = check_probs(y_true, y_prob)
    p_true = np.clip(p[np.arange(len(y)), y], NLL_CLIP, 1.0)
    return float(-np.mean(np.log(p_true)))


def brier_score(y_true: Array, y_prob: Array) -> float:
    """Multiclass Brier score: mean over samples of Σ_c (p_c - onehot_c)², in [0, 2].

    This is Brier's original multiclass form; for two classes it is twice scikit-learn's
    binary ``brier_score_loss`` (which scores the positive class only).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.

    Returns:
        Brier score (lower is better).

    Reference: Brier, "Verification of forecasts expressed in terms of probability",
    Monthly Weather Review 78 (1950).
    """
    y, p = check_probs(y_true, y_prob)
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
