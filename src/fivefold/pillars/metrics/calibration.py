"""Calibration: top-label ECE (equal-width and equal-mass bins), reliability table, temperature.

Confidence is the max class probability and a sample is correct when its argmax is the label.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import log_softmax

from fivefold.pillars.metrics.classification import Array, check_probs

__all__ = [
    "adaptive_calibration_error",
    "equal_mass_bins",
    "equal_width_bins",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_table",
    "temperature_nll",
]


def _confidence(y_true: Array, y_prob: Array) -> tuple[Array, Array]:
    """(N,) max-probability confidence and (N,) float correctness (1.0 where argmax = label)."""
    y, p = check_probs(y_true, y_prob)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)


def equal_width_bins(conf: Array, n_bins: int) -> Array:
    """Bin index of each confidence for ``n_bins`` bins (lo, hi] of [0, 1]; bin 0 includes 0.

    Args:
        conf: (N,) confidences in [0, 1].
        n_bins: number of bins B.

    Returns:
        (N,) int64 bin ids in [0, B).
    """
    inner = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    # side="left" counts the inner edges strictly below c, so c == hi stays in (lo, hi].
    out: Array = np.searchsorted(inner, conf, side="left").astype(np.int64)
    return out


def equal_mass_bins(conf: Array, n_bins: int) -> Array:
    """Bin index of each confidence for ``n_bins`` bins holding N/B samples each (±1).

    Samples are ranked by confidence (stable on ties, so the result is deterministic).

    Args:
        conf: (N,) confidences.
        n_bins: number of bins B.

    Returns:
        (N,) int64 bin ids in [0, B).
    """
    order = np.argsort(conf, kind="stable")
    ids = np.empty(len(conf), dtype=np.int64)
    ids[order] = (np.arange(len(conf)) * n_bins) // max(len(conf), 1)
    return ids


def _binned_gap(conf: Array, correct: Array, bins: Array, n_bins: int) -> float:
    """Σ_b (n_b / N) |acc_b - conf_b| over the non-empty bins."""
    counts = np.bincount(bins, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    return float(np.abs(acc_sum - conf_sum).sum() / counts.sum())


def expected_calibration_error(y_true: Array, y_prob: Array, *, n_bins: int = 15) -> float:
    """Top-label expected calibration error with equal-width confidence bins.

    ECE = Σ_b (n_b / N) |accuracy_b - mean confidence_b| over bins (lo, hi] of [0, 1]
    (the first bin includes 0).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        n_bins: number of equal-width bins (15 as in Guo et al.).

    Returns:
        ECE in [0, 1] (lower is better).

    Reference: Naeini et al., "Obtaining Well Calibrated Probabilities Using Bayesian Binning",
    AAAI 2015; Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
    """
    conf, correct = _confidence(y_true, y_prob)
    return _binned_gap(conf, correct, equal_width_bins(conf, n_bins), n_bins)


def adaptive_calibration_error(y_true: Array, y_prob: Array, *, n_bins: int = 15) -> float:
    """Top-label calibration error with equal-mass (adaptive) confidence bins.

    Same formula as :func:`expected_calibration_error`, but each bin holds N/B samples, so
    crowded high-confidence regions are resolved finely. This is the top-label variant; the
    ACE of Nixon et al. additionally averages over classes.

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        n_bins: number of equal-mass bins.

    Returns:
        adaptive ECE in [0, 1] (lower is better).

    Reference: Nguyen & O'Connor, "Posterior calibration and exploratory analysis for natural
    language processing models", EMNLP 2015; Nixon et al., "Measuring Calibration in Deep
    Learning", CVPR Workshops 2019.
    """
    conf, correct = _confidence(y_true, y_prob)
    return _binned_gap(conf, correct, equal_mass_bins(conf, n_bins), n_bins)


def reliability_table(y_true: Array, y_prob: Array, *, n_bins: int = 15) -> list[dict[str, Any]]:
    """Per equal-width bin: edges, count, mean confidence and accuracy (a reliability diagram).

    Args:
        y_true: (N,) integer labels.
        y_prob: (N, C) class probabilities.
        n_bins: number of bins.

    Returns:
        one row per bin: ``lo``, ``hi``, ``count``, ``confidence`` and ``accuracy``
        (None for an empty bin).

    Reference: DeGroot & Fienberg, "The Comparison and Evaluation of Forecasters",
    The Statistician 32 (1983).
    """
    conf, correct = _confidence(y_true, y_prob)
    bins = equal_width_bins(conf, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for b in range(n_bins):
        mask = bins == b
        n = int(mask.sum())
        rows.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": n,
                "confidence": float(conf[mask].mean()) if n else None,
                "accuracy": float(correct[mask].mean()) if n else None,
            }
        )
    return rows


def temperature_nll(logits: Array, y_true: Array, temperature: float) -> float:
    """Mean NLL (nats) of ``softmax(logits / temperature)``, computed in log space.

    Args:
        logits: (N, C) logits.
        y_true: (N,) integer labels.
        temperature: T > 0.

    Returns:
        mean NLL.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(y_true).astype(np.int64)
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


def fit_temperature(
    logits: Array, y_true: Array, *, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature T minimising the NLL of ``softmax(logits / T)`` on held-out data.

    NLL is convex in 1/T, hence unimodal in log T: a bounded Brent search on log T finds the
    global minimum without the divergence issues of unconstrained LBFGS on T.

    Args:
        logits: (N, C) validation logits.
        y_true: (N,) validation labels.
        bounds: search range of T.

    Returns:
        the fitted T (> 1 means the model was over-confident).

    Reference: Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64)
    from scipy.optimize import minimize_scalar  # slow to import; only temperature fits need it

    res = minimize_scalar(
        lambda log_t: temperature_nll(z, y, math.exp(log_t)),
        bounds=(math.log(bounds[0]), math.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(res.x))
