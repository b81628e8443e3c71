"""Ensemble disagreement: how much K members' class probabilities differ, and what the
ensemble gains over its members.

Every function takes the members' probabilities as one (K, N, C) array ``member_prob``.
Per-sample scores:

- :func:`mutual_information`: ``H(mean_k p_k) - mean_k H(p_k)`` in nats, the epistemic part of
  the predictive entropy (BALD; Houlsby et al. 2011, Depeweg et al. 2018), in ``[0, log K]``;
- :func:`member_variance`: ``sum_c Var_k[p_kc]``, the total variance of the members'
  probabilities (population variance over members), in ``[0, 1 - 1/C]``;
- :func:`disagreement_rate`: the share of member pairs whose predicted classes differ (Fort,
  Hu & Lakshminarayanan, "Deep ensembles: a loss landscape perspective", 2019).

Both the first two are 0 when every member agrees and grow with disagreement, so ``-score``
ranks samples from "members agree" to "members disagree": an OOD score (higher = more
in-distribution, as :mod:`.ood`) and a selective-prediction confidence (:mod:`.selective`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fivefold.pillars.metrics.calibration import expected_calibration_error
from fivefold.pillars.metrics.classification import Array, accuracy, check_probs, nll

__all__ = [
    "check_members",
    "disagreement_rate",
    "member_summary",
    "member_variance",
    "mutual_information",
]

_EPS = 1e-300


def check_members(member_prob: Array) -> Array:
    """(K, N, C) float64 member probabilities; raises ValueError on another shape or K < 1."""
    p = np.asarray(member_prob, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 1 or p.shape[1] == 0:
        raise ValueError(f"expected member probabilities of shape (K, N, C), got {p.shape}")
    return p


def _entropy(p: Array) -> Array:
    """Entropy in nats along the last axis (0 log 0 = 0)."""
    out: Array = -np.sum(np.where(p > 0, p * np.log(np.maximum(p, _EPS)), 0.0), axis=-1)
    return out


def mutual_information(member_prob: Array) -> Array:
    """(N,) mutual information between the prediction and the member, in nats.

    ``H(p_bar) - mean_k H(p_k)`` with ``p_bar`` the members' (unweighted) mean; clipped at 0
    against rounding. 0 when all members give the same probabilities; at most ``log K``.

    Args:
        member_prob: (K, N, C) class probabilities of K members.

    Reference: Houlsby et al., "Bayesian Active Learning for Classification and Preference
    Learning", 2011; Depeweg et al., "Decomposition of Uncertainty in Bayesian Deep Learning",
    ICML 2018.
    """
    p = check_members(member_prob)
    out: Array = np.maximum(_entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0), 0.0)
    return out


def member_variance(member_prob: Array) -> Array:
    """(N,) ``sum_c Var_k[p_kc]``: the members' probability variance summed over classes.

    Population variance over the K members (``ddof=0``), so a single member gives 0.

    Args:
        member_prob: (K, N, C) class probabilities of K members.
    """
    p = check_members(member_prob)
    out: Array = p.var(axis=0).sum(axis=-1)
    return out


def disagreement_rate(member_prob: Array) -> Array:
    """(N,) the share of the K(K-1)/2 member pairs that predict different classes.

    ``1 - sum_c n_c (n_c - 1) / (K (K - 1))`` with ``n_c`` the members voting for class c;
    0 for one member.

    Args:
        member_prob: (K, N, C) class probabilities of K members.
    """
    p = check_members(member_prob)
    k, n, c = p.shape
    if k < 2:
        return np.zeros(n)
    votes = np.zeros((n, c))
    np.add.at(votes, (np.arange(n)[None, :].repeat(k, 0), p.argmax(axis=-1)), 1.0)
    out: Array = 1.0 - (votes * (votes - 1)).sum(axis=1) / (k * (k - 1))
    return out


def member_summary(
    y_true: Array, member_prob: Array, ensemble_prob: Array, *, bins: int = 15
) -> dict[str, Any]:
    """The ensemble against its members on one split.

    Args:
        y_true: (N,) integer labels.
        member_prob: (K, N, C) class probabilities of each member.
        ensemble_prob: (N, C) the ensemble's probabilities (its combiner's, which need not be
            the members' plain mean).
        bins: equal-width bins of the ECE.

    Returns:
        ``members`` (K), ``member_accuracy``/``member_nll``/``member_ece`` (one per member),
        ``mean_member_*`` (their means), ``best_member`` (index of the most accurate) and
        ``best_member_accuracy``, ``ensemble_accuracy``/``ensemble_nll``/``ensemble_ece``, the
        gains ``accuracy_gain_over_mean``, ``accuracy_gain_over_best``, ``nll_gain`` and
        ``ece_gain`` (mean member minus ensemble for NLL and ECE, so positive = the ensemble
        is better), and the mean ``disagreement``, ``mutual_information`` and
        ``member_variance`` over the samples.
    """
    p = check_members(member_prob)
    y, ens = check_probs(y_true, ensemble_prob)
    if p.shape[1:] != ens.shape:
        raise ValueError(f"member probabilities {p.shape} do not match the ensemble's {ens.shape}")
    acc = [accuracy(y, m) for m in p]
    loss = [nll(y, m) for m in p]
    ece = [expected_calibration_error(y, m, n_bins=bins) for m in p]
    best = int(np.argmax(acc))
    out: dict[str, Any] = {
        "members": int(p.shape[0]),
        "member_accuracy": acc,
        "member_nll": loss,
        "member_ece": ece,
        "mean_member_accuracy": float(np.mean(acc)),
        "mean_member_nll": float(np.mean(loss)),
        "mean_member_ece": float(np.mean(ece)),
        "best_member": best,
        "best_member_accuracy": acc[best],
        "ensemble_accuracy": accuracy(y, ens),
        "ensemble_nll": nll(y, ens),
        "ensemble_ece": expected_calibration_error(y, ens, n_bins=bins),
        "disagreement": float(disagreement_rate(p).mean()),
        "mutual_information": float(mutual_information(p).mean()),
        "member_variance": float(member_variance(p).mean()),
    }
    out["accuracy_gain_over_mean"] = out["ensemble_accuracy"] - out["mean_member_accuracy"]
    out["accuracy_gain_over_best"] = out["ensemble_accuracy"] - out["best_member_accuracy"]
    out["nll_gain"] = out["mean_member_nll"] - out["ensemble_nll"]
    out["ece_gain"] = out["mean_member_ece"] - out["ensemble_ece"]
    return out
