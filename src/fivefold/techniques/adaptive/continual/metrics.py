"""Scores of continual and online learning, from an accuracy matrix or a per-sample record.

Task-sequence scores read the accuracy matrix ``R`` of shape (T, T), where ``R[i, j]`` is the
test accuracy on experience ``j`` after training on experiences ``0..i``. Stream scores read a
boolean record ``correct`` of test-then-train predictions, one entry per sample in stream
order, and sample indexes (0-based) of true drifts and of detections.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

__all__ = [
    "DetectionReport",
    "DriftRecovery",
    "continual_scores",
    "detection_report",
    "drift_recovery",
    "forward_transfer",
    "prequential_accuracy",
    "prequential_curve",
]


class DriftRecovery(TypedDict):
    """How accuracy fell and came back after one drift (see :func:`drift_recovery`)."""

    position: int
    pre_accuracy: float
    min_accuracy: float | None
    drop: float | None
    recovered_at: int | None
    recovery_samples: int | None


class DetectionReport(TypedDict):
    """Detections matched to true drifts (see :func:`detection_report`)."""

    delays: list[int | None]
    detected: int
    missed: int
    false_alarms: int
    false_alarm_indexes: list[int]
    mean_delay: float


def _matrix(matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
    r = np.asarray(matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 1:
        raise ValueError(f"accuracy matrix must be square (T, T) with T >= 1, got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("accuracy matrix has NaN or infinite entries; pass finite accuracies")
    return r


def continual_scores(matrix: npt.ArrayLike) -> dict[str, float]:
    """Average accuracy, learning accuracy, forgetting and backward transfer of ``R``.

    With ``T`` experiences and ``R[i, j]`` the accuracy on experience ``j`` after training on
    experience ``i``:

    - ``average_accuracy`` = mean over j of ``R[T-1, j]`` (the final model on every task).
    - ``learning_accuracy`` = mean over j of ``R[j, j]`` (each task just after learning it).
    - ``forgetting`` = mean over j < T-1 of ``max_{l in 0..T-2} R[l, j] - R[T-1, j]``
      (Chaudhry et al. 2018): the best accuracy a task ever had before the end, minus its
      final accuracy; positive means forgotten.
    - ``backward_transfer`` = mean over j < T-1 of ``R[T-1, j] - R[j, j]`` (Lopez-Paz &
      Ranzato 2017); negative means forgotten.

    With one experience (T = 1) forgetting and backward transfer are NaN.

    Args:
        matrix: (T, T) accuracies (any array-like of numbers).

    Returns:
        ``average_accuracy``, ``learning_accuracy``, ``forgetting``, ``backward_transfer``.

    Raises:
        ValueError: the matrix is not square, is empty or has non-finite entries.

    Reference: Chaudhry et al., "Riemannian Walk for Incremental Learning: Understanding
    Forgetting and Intransigence", ECCV 2018 (forgetting); Lopez-Paz & Ranzato, "Gradient
    Episodic Memory for Continual Learning", NeurIPS 2017 (average accuracy, BWT).
    """
    r = _matrix(matrix)
    t = r.shape[0]
    final = r[t - 1]
    scores = {
        "average_accuracy": float(final.mean()),
        "learning_accuracy": float(np.diag(r).mean()),
    }
    if t == 1:
        scores["forgetting"] = math.nan
        scores["backward_transfer"] = math.nan
        return scores
    best_before_end = r[: t - 1, : t - 1].max(axis=0)  # max over l in 0..T-2, per j < T-1
    scores["forgetting"] = float((best_before_end - final[: t - 1]).mean())
    scores["backward_transfer"] = float((final[: t - 1] - np.diag(r)[: t - 1]).mean())
    return scores


def forward_transfer(matrix: npt.ArrayLike, baseline: npt.ArrayLike) -> float:
    """Forward transfer: mean over j > 0 of ``R[j-1, j] - b[j]`` (Lopez-Paz & Ranzato 2017).

    ``b[j]`` is the accuracy on experience ``j`` of a model that never trained on it (usually
    a freshly initialised one); positive means earlier experiences helped before task ``j``
    was seen.

    Args:
        matrix: (T, T) accuracies.
        baseline: (T,) baseline accuracies ``b`` (``b[0]`` is not used).

    Returns:
        the forward transfer, NaN when T = 1.

    Raises:
        ValueError: bad matrix, or the baseline is not (T,) finite numbers.

    Reference: Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning",
    NeurIPS 2017.
    """
    r = _matrix(matrix)
    b = np.asarray(baseline, dtype=np.float64)
    t = r.shape[0]
    if b.shape != (t,) or not np.isfinite(b).all():
        raise ValueError(f"baseline must be {t} finite accuracies, got shape {b.shape}")
    if t == 1:
        return math.nan
    return float((r[np.arange(t - 1), np.arange(1, t)] - b[1:]).mean())


def _record(correct: npt.ArrayLike) -> npt.NDArray[np.float64]:
    c = np.asarray(correct, dtype=np.float64)
    if c.ndim != 1 or len(c) == 0:
        raise ValueError(f"correct must be a non-empty 1-D sequence, got shape {c.shape}")
    return c


def prequential_accuracy(correct: npt.ArrayLike) -> float:
    """Accuracy of test-then-train predictions: the mean of ``correct``.

    Args:
        correct: (N,) booleans, whether each sample was predicted right before training on it.

    Returns:
        the fraction correct.

    Raises:
        ValueError: ``correct`` is empty or not 1-D.

    Reference: Gama et al., "On evaluating stream learning algorithms", Machine Learning 2013
    (prequential evaluation).
    """
    return float(_record(correct).mean())


def prequential_curve(correct: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Sliding-window prequential accuracy ending at each sample.

    ``out[i]`` is the mean of ``correct[max(0, i - window + 1) : i + 1]``, so the first
    ``window - 1`` entries average the prefix available so far.

    Args:
        correct: (N,) booleans in stream order.
        window: window length, >= 1.

    Returns:
        (N,) float64 accuracies.

    Raises:
        ValueError: empty record or ``window < 1``.
    """
    c = _record(correct)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    csum = np.concatenate([[0.0], np.cumsum(c)])
    ends = np.arange(1, len(c) + 1)
    starts = np.maximum(0, ends - window)
    out: npt.NDArray[np.float64] = (csum[ends] - csum[starts]) / (ends - starts)
    return out


def _positions(drifts: Sequence[int], n: int, name: str) -> list[int]:
    out = [int(p) for p in drifts]
    if any(b <= a for a, b in itertools.pairwise(out)) or any(not 0 < p < n for p in out):
        raise ValueError(f"{name} must be strictly increasing indexes in (0, {n}), got {out}")
    return out


def drift_recovery(
    correct: npt.ArrayLike, drifts: Sequence[int], *, window: int, tolerance: float
) -> list[DriftRecovery]:
    """How far windowed accuracy falls after each drift and how long it takes to come back.

    Conventions, for a drift at index ``p`` with the previous drift (or 0) at ``a`` and the
    next drift (or the stream end N) at ``b``:

    - ``pre_accuracy``: the mean of ``correct[max(a, p - window) : p]``.
    - post-drift windows: every window ``correct[e - window + 1 : e + 1]`` lying fully in
      ``[p, b)``, i.e. ending at ``e`` in ``p + window - 1 .. b - 1``.
    - ``min_accuracy``: the lowest post-drift window; ``drop`` = pre - min.
    - ``recovered_at``: the first ``e`` whose window accuracy is ``>= pre - tolerance``, and
      ``recovery_samples`` = ``e + 1 - p``, the samples seen from the drift on until then
      (at least ``window``: a model that never drops recovers at the first full window).
      Both are None when no window recovers before ``b``.

    When no full window fits in ``[p, b)``, min, drop and recovery are None.

    Args:
        correct: (N,) test-then-train correctness in stream order.
        drifts: strictly increasing drift indexes in (0, N).
        window: window length, >= 1.
        tolerance: how far below the pre-drift level still counts as recovered, >= 0.

    Returns:
        one :class:`DriftRecovery` per drift, in order.

    Raises:
        ValueError: bad record, drift positions, window or tolerance.

    Reference: Gama et al., "A Survey on Concept Drift Adaptation", ACM Computing Surveys
    2014 (recovery analysis of prequential error after a change).
    """
    c = _record(correct)
    n = len(c)
    positions = _positions(drifts, n, "drifts")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    csum = np.concatenate([[0.0], np.cumsum(c)])
    out: list[DriftRecovery] = []
    for k, p in enumerate(positions):
        a = positions[k - 1] if k > 0 else 0
        b = positions[k + 1] if k + 1 < len(positions) else n
        lo = max(a, p - window)
        pre = float((csum[p] - csum[lo]) / (p - lo))
        ends = np.arange(p + window - 1, b)  # last index of each full post-drift window
        record = DriftRecovery(
            position=p,
            pre_accuracy=pre,
            min_accuracy=None,
            drop=None,
            recovered_at=None,
            recovery_samples=None,
        )
        if len(ends):
            acc = (csum[ends + 1] - csum[ends + 1 - window]) / window
            record["min_accuracy"] = float(acc.min())
            record["drop"] = pre - float(acc.min())
            back = np.flatnonzero(acc >= pre - tolerance)
            if len(back):
                e = int(ends[back[0]])
                record["recovered_at"] = e
                record["recovery_samples"] = e + 1 - p
        out.append(record)
    return out


def detection_report(
    detections: Sequence[int], drifts: Sequence[int], *, max_delay: int
) -> DetectionReport:
    """Match detections to true drifts and count delays, misses and false alarms.

    Each drift at ``p`` is matched to the first detection ``d`` with ``p <= d <= p +
    max_delay`` and ``d`` before the next drift; its delay is ``d - p`` (None: missed).
    Every other detection is a false alarm, including a second detection of an already
    matched drift and one before the first drift.

    Args:
        detections: sample indexes at which a detector fired (any order, duplicates count).
        drifts: strictly increasing true drift indexes (>= 0).
        max_delay: the longest delay still counted as a detection, >= 0.

    Returns:
        delays per drift, detected and missed counts, false alarms (count and indexes) and
        the mean delay over detected drifts (NaN when none was detected).

    Raises:
        ValueError: drifts not strictly increasing or negative, or ``max_delay < 0``.
    """
    if max_delay < 0:
        raise ValueError(f"max_delay must be >= 0, got {max_delay}")
    positions = [int(p) for p in drifts]
    if any(b <= a for a, b in itertools.pairwise(positions)) or any(p < 0 for p in positions):
        raise ValueError(f"drifts must be strictly increasing indexes >= 0, got {positions}")
    found = sorted(int(d) for d in detections)
    used = [False] * len(found)
    delays: list[int | None] = []
    for k, p in enumerate(positions):
        stop = p + max_delay
        if k + 1 < len(positions):
            stop = min(stop, positions[k + 1] - 1)
        match = next((i for i, d in enumerate(found) if p <= d <= stop and not used[i]), None)
        if match is None:
            delays.append(None)
        else:
            used[match] = True
            delays.append(found[match] - p)
    hit = [d for d in delays if d is not None]
    false_alarms = [d for d, u in zip(found, used, strict=True) if not u]
    return DetectionReport(
        delays=delays,
        detected=len(hit),
        missed=len(delays) - len(hit),
        false_alarms=len(false_alarms),
        false_alarm_indexes=false_alarms,
        mean_delay=float(np.mean(hit)) if hit else math.nan,
    )
