"""Out-of-distribution detection: confidence scores and how well they separate in from out.

Convention: in-distribution is the positive class and a higher score means "more
in-distribution".
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from fivefold.pillars.metrics.classification import Array, softmax

__all__ = ["energy_score", "fpr_at_95_tpr", "max_softmax_score", "ood_auroc"]


def max_softmax_score(logits: Array) -> Array:
    """Maximum softmax probability of every sample.

    Args:
        logits: (N, C) logits.

    Returns:
        (N,) scores in [1/C, 1]; higher = more in-distribution.

    Reference: Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and
    Out-of-Distribution Examples in Neural Networks", ICLR 2017.
    """
    out: Array = softmax(logits).max(axis=1)
    return out


def energy_score(logits: Array, *, temperature: float = 1.0) -> Array:
    """Negative free energy -E(x) = T · logsumexp(logits / T) of every sample.

    Args:
        logits: (N, C) logits.
        temperature: T > 0 (1 in the paper's main results).

    Returns:
        (N,) scores; higher = lower energy = more in-distribution.

    Reference: Liu et al., "Energy-based Out-of-distribution Detection", NeurIPS 2020.
    """
    z = np.asarray(logits, dtype=np.float64) / temperature
    out: Array = temperature * logsumexp(z, axis=1)
    return out


def _labels_scores(score_in: Array, score_out: Array) -> tuple[Array, Array]:
    """Concatenated (N_in + N_out,) labels (1 = in) and scores; raises on an empty side."""
    s_in, s_out = np.asarray(score_in, np.float64), np.asarray(score_out, np.float64)
    if s_in.size == 0 or s_out.size == 0:
        raise ValueError("OOD metrics need at least one in- and one out-of-distribution score")
    labels = np.r_[np.ones(s_in.size), np.zeros(s_out.size)]
    return labels, np.r_[s_in.ravel(), s_out.ravel()]


def ood_auroc(score_in: Array, score_out: Array) -> float:
    """Area under the ROC curve of telling in- from out-of-distribution samples by score.

    Equals P(score_in > score_out) + ½ P(tie) (the Mann-Whitney statistic).

    Args:
        score_in: (N_in,) scores of in-distribution samples (the positives).
        score_out: (N_out,) scores of OOD samples.

    Returns:
        AUROC in [0, 1]; 0.5 = chance, 1 = perfect separation.

    Reference: Hendrycks & Gimpel, ICLR 2017 (the OOD protocol); Hanley & McNeil, Radiology
    143 (1982) (AUROC as the Mann-Whitney statistic).
    """
    labels, scores = _labels_scores(score_in, score_out)
    from sklearn.metrics import roc_auc_score  # a 1 s import, paid only when scoring

    return float(roc_auc_score(labels, scores))


def fpr_at_95_tpr(score_in: Array, score_out: Array, *, tpr: float = 0.95) -> float:
    """False positive rate on OOD samples at the first threshold with TPR ≥ ``tpr`` on in-data.

    Args:
        score_in: (N_in,) scores of in-distribution samples (the positives).
        score_out: (N_out,) scores of OOD samples.
        tpr: the true positive rate to reach (0.95).

    Returns:
        share of OOD samples accepted as in-distribution, in [0, 1] (lower is better).

    Reference: Liang, Li & Srikant, "Enhancing The Reliability of Out-of-distribution Image
    Detection in Neural Networks" (ODIN), ICLR 2018.
    """
    labels, scores = _labels_scores(score_in, score_out)
    from sklearn.metrics import roc_curve

    fpr, tprs, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(fpr[np.searchsorted(tprs, tpr - 1e-12, side="left")])
