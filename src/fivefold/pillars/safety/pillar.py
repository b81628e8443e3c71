"""Ethics & safety: group fairness, calibration, selective prediction and OOD detection.

The headline is ``ece`` (top-label expected calibration error on the test split, lower is
better): every task has it, unlike group labels or an OOD set. Fairness, temperature-scaled
calibration, AURC and OOD numbers are reported as further metrics with their tables.

An ensemble (a subject with several members) adds member disagreement as a score beside
max-softmax: the negative mutual information and the negative member variance rank OOD
samples (``ood_auroc_mi``, ``ood_auroc_variance``) and the negative mutual information ranks
test samples for selective prediction (``aurc_mi``); energy is skipped (no logits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fivefold.data.task import Inputs, Task
from fivefold.pillars import metrics as M
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, Subject
from fivefold.pillars.safety.ood import build_ood_set, check_ood_option, ood_scores
from fivefold.schema import option

__all__ = ["SafetyConfig", "SafetyPillar", "calibration_scores", "group_table"]

Array = M.Array


@dataclass(frozen=True)
class SafetyConfig:
    """Options of the ethics & safety pillar."""

    bins: int = option(15, help="confidence bins of ECE and the reliability table", min=1)
    coverage: float = option(
        0.9,
        help="share of test samples answered for accuracy_at_coverage",
        min=0.0,
        max=1.0,
        exclusive_min=True,
    )
    ood: str = option(
        "auto",
        help="OOD set: auto (shift splits, else noise for bounded inputs), none, shift, "
        "shift:<name>, noise, or a built-in dataset name",
    )
    ood_max_samples: int = option(2000, help="most OOD samples scored (seeded subsample)", min=10)

    def __post_init__(self) -> None:
        check_ood_option(self.ood)


@dataclass
class _Part:
    """Metrics, tables and notes of one section of the pillar."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _logits(subject: Subject, x: Inputs) -> Array:
    """(N, C) float64 logits of the model, or for a subject without logits (members' averaged
    probabilities) the log-probabilities: their softmax gives the probabilities back, so
    calibration, temperature scaling and the max-softmax score work on them alike."""
    if subject.has_logits:
        out: Array = subject.logits(x).double().numpy()
        return out
    prob = subject.predict_proba(x).double().numpy()
    log_prob: Array = np.log(np.maximum(prob, np.finfo(np.float64).tiny))  # 0 stays finite
    return log_prob


def calibration_scores(y: Array, prob: Array, bins: int) -> dict[str, float]:
    """ECE, adaptive ECE, Brier score and NLL of probabilities (all lower-is-better).

    Args:
        y: (N,) labels.
        prob: (N, C) class probabilities.
        bins: number of confidence bins.

    Returns:
        ``ece``, ``adaptive_ece``, ``brier``, ``nll``.
    """
    return {
        "ece": M.expected_calibration_error(y, prob, n_bins=bins),
        "adaptive_ece": M.adaptive_calibration_error(y, prob, n_bins=bins),
        "brier": M.brier_score(y, prob),
        "nll": M.nll(y, prob),
    }


def _calibration(y: Array, logits: Array, val: tuple[Array, Array] | None, bins: int) -> _Part:
    """Calibration before and after temperature scaling fitted on the val split."""
    raw = calibration_scores(y, M.softmax(logits), bins)
    part = _Part({k: Metric(v, False) for k, v in raw.items()})
    part.tables["reliability"] = M.reliability_table(y, M.softmax(logits), n_bins=bins)
    part.tables["calibration"] = [{"stage": "raw", "temperature": 1.0, **raw}]
    if val is None:
        part.notes.append("temperature scaling skipped: the task has no val split")
        return part
    t = _temperature(val, part.notes)
    scaled = calibration_scores(y, M.softmax(logits, t), bins)
    part.metrics.update({f"{k}_scaled": Metric(v, False) for k, v in scaled.items()})
    part.tables["calibration"].append({"stage": "temperature_scaled", "temperature": t, **scaled})
    return part


MIN_TEMPERATURE_ROWS = 50
"""Validation rows needed before temperature scaling is trusted (one parameter, but its
fit on a few dozen rows swings with each of them)."""

TEMPERATURE_FOLDS = 5


def _held_out_nll(y: Array, logits: Array, folds: int = TEMPERATURE_FOLDS) -> tuple[float, float]:
    """K-fold cross-validated NLL on the val rows at T = 1 and with T fitted on the other
    folds (a fixed permutation, so the check is deterministic)."""
    order = np.random.default_rng(0).permutation(len(y))
    raw, scaled = 0.0, 0.0
    for k in range(folds):
        held = order[k::folds]
        fit = np.setdiff1d(order, held)
        t = M.fit_temperature(logits[fit], y[fit])
        raw += M.temperature_nll(logits[held], y[held], 1.0) * len(held)
        scaled += M.temperature_nll(logits[held], y[held], t) * len(held)
    return raw / len(y), scaled / len(y)


def _temperature(val: tuple[np.ndarray, np.ndarray], notes: list[str]) -> float:
    """T fitted on the val split, kept only when the fit is trustworthy; else T = 1.

    Trustworthy: the val split has at least :data:`MIN_TEMPERATURE_ROWS` rows, a misclassified
    one (else the NLL keeps falling as T → 0), and T fitted on part of it lowers the NLL of
    the rest (``TEMPERATURE_FOLDS``-fold cross-validation): a fit that would make held-out
    NLL worse is not applied.
    """
    y_val, logits_val = val
    unchanged = "T = 1 kept (the _scaled metrics equal the raw ones)"
    if len(y_val) < MIN_TEMPERATURE_ROWS:
        notes.append(
            f"temperature scaling not applied: the val split holds {len(y_val)} rows, fewer "
            f"than the {MIN_TEMPERATURE_ROWS} a trustworthy fit needs; {unchanged}"
        )
        return 1.0
    if bool(np.all(logits_val.argmax(1) == y_val)):
        notes.append(
            "temperature scaling not fitted: every val sample is classified correctly, so the "
            f"val NLL keeps falling as T → 0; {unchanged}"
        )
        return 1.0
    t = M.fit_temperature(logits_val, y_val)
    raw, scaled = _held_out_nll(y_val, logits_val)
    if not scaled < raw:
        notes.append(
            f"temperature scaling not applied: T = {t:.4g} fitted on the val split made its "
            f"held-out NLL worse in {TEMPERATURE_FOLDS}-fold cross-validation ({raw:.4f} → "
            f"{scaled:.4f}); {unchanged}"
        )
        return 1.0
    notes.append(
        f"temperature scaling fitted on the val split: T = {t:.4g} (held-out val NLL "
        f"{raw:.4f} → {scaled:.4f} in {TEMPERATURE_FOLDS}-fold cross-validation)"
    )
    if t < 0.06 or t > 19.0:
        notes.append("the fitted temperature is at its search bound; treat it with care")
    return t


def _selective(y: Array, prob: Array, coverage: float, members: Array | None) -> _Part:
    """AURC, excess AURC, accuracy at ``coverage`` and the risk-coverage table; with (K, N, C)
    ``members`` probabilities, AURC and excess AURC ranking by the negative mutual information
    too, side by side with max-softmax in the ``selective`` table."""
    part = _Part(
        {
            "aurc": Metric(M.aurc(y, prob), False),
            "excess_aurc": Metric(M.excess_aurc(y, prob), False),
            "accuracy_at_coverage": Metric(
                M.accuracy_at_coverage(y, prob, coverage=coverage), True
            ),
        },
        {"risk_coverage": M.risk_coverage_table(y, prob, max_points=50)},
    )
    if members is None:
        return part
    mi = _neg_mi(members)
    part.metrics["aurc_mi"] = Metric(M.aurc(y, prob, confidence=mi), False)
    part.metrics["excess_aurc_mi"] = Metric(M.excess_aurc(y, prob, confidence=mi), False)
    part.tables["selective"] = [
        {"score": score, "aurc": part.metrics[f"aurc{sfx}"].value}
        | {"excess_aurc": part.metrics[f"excess_aurc{sfx}"].value}
        for score, sfx in (("msp", ""), ("mi", "_mi"))
    ]
    return part


def _members(subject: Subject, x: Inputs) -> Array | None:
    """(K, N, C) float64 member probabilities of an ensemble; None for a single model."""
    if len(subject.members) < 2:
        return None
    out: Array = subject.member_proba(x).double().numpy()
    return out


def _neg_mi(p: Array) -> Array:
    out: Array = -M.mutual_information(p)
    return out


def _neg_variance(p: Array) -> Array:
    out: Array = -M.member_variance(p)
    return out


_MEMBER_SCORES: dict[str, Callable[[Array], Array]] = {"mi": _neg_mi, "variance": _neg_variance}
"""OOD scores of (K, N, C) member probabilities (higher = members agree = in-distribution)."""


_RATES = {
    "selection_rate": M.selection_rate,
    "tpr": M.true_positive_rate,
    "fpr": M.false_positive_rate,
}


def _by_group(metrics: dict[str, Any], y: Array, pred: Array, groups: Array) -> Any:
    """fairlearn ``MetricFrame(...).by_group``: a DataFrame indexed by group id."""
    from fairlearn.metrics import MetricFrame  # imported when scored: it pulls in sklearn

    return MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=groups).by_group


def _group_name(k: int, names: tuple[str, ...]) -> str:
    """The name of group id ``k`` (its number when ``names`` has no entry for it)."""
    return names[k] if 0 <= k < len(names) else str(k)


def _rate_rows(
    y: Array, pred: Array, groups: Array, names: tuple[str, ...], n_classes: int
) -> list[dict[str, Any]]:
    """Selection rate, TPR and FPR per group, one-vs-rest for every positive class."""
    rows = []
    for c in M.positive_classes(n_classes):
        frame = _by_group(_RATES, (y == c).astype(int), (pred == c).astype(int), groups)
        rows += [
            {"group": _group_name(int(k), names), "class": c, **frame.loc[k].to_dict()}
            for k in frame.index
        ]
    return rows


def group_table(
    y: Array, prob: Array, groups: Array, names: tuple[str, ...], bins: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-group accuracy and ECE, and per-group (one-vs-rest) selection rate, TPR and FPR.

    Args:
        y: (N,) labels.
        prob: (N, C) class probabilities.
        groups: (N,) integer group ids indexing ``names``.
        names: group names.
        bins: ECE bins.

    Returns:
        ``groups`` rows (group, n, accuracy, ece; plus selection_rate, tpr and fpr of class 1
        when binary) and ``group_rates`` rows (group, class, selection_rate, tpr, fpr).
    """
    pred = prob.argmax(axis=1)
    acc = _by_group({"accuracy": lambda a, b: float(np.mean(a == b))}, y, pred, groups)
    rows = [
        {
            "group": _group_name(int(k), names),
            "n": int(np.sum(groups == k)),
            "accuracy": float(acc.loc[k, "accuracy"]),
            "ece": M.expected_calibration_error(y[groups == k], prob[groups == k], n_bins=bins),
        }
        for k in acc.index
    ]
    rate_rows = [_plain(r) for r in _rate_rows(y, pred, groups, names, prob.shape[1])]
    if prob.shape[1] == 2:
        for row, rate in zip(rows, rate_rows, strict=True):
            row.update({k: rate[k] for k in _RATES})
    return rows, rate_rows


def _fairness(task: Task, y: Array, prob: Array, bins: int) -> _Part:
    """Fairness metrics over the test split's sensitive groups; a note when there are none."""
    if task.group_names is None or task.test.group is None:
        return _Part(notes=["fairness skipped: the task has no sensitive groups"])
    g = task.test.group.numpy().astype(np.int64)
    rows, rate_rows = group_table(y, prob, g, task.group_names, bins)
    worst_ece = max(float(r["ece"]) for r in rows)
    part = _Part(
        {
            "demographic_parity_difference": Metric(
                M.demographic_parity_difference(y, prob, groups=g), False
            ),
            "demographic_parity_ratio": Metric(M.demographic_parity_ratio(y, prob, groups=g), True),
            "equalized_odds_difference": Metric(
                M.equalized_odds_difference(y, prob, groups=g), False
            ),
            "worst_group_accuracy": Metric(M.worst_group_accuracy(y, prob, groups=g), True),
            "worst_group_ece": Metric(worst_ece, False),
        },
        {"groups": rows, "group_rates": rate_rows},
    )
    if len(rows) < 2:
        part.notes.append("fairness: only one group in the test split; disparities are 0")
    if prob.shape[1] > 2:
        part.notes.append(
            "fairness: multiclass rates are one-vs-rest; disparities take the worst class"
        )
    return part


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a table row (numpy scalars to Python numbers)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}


def _ood(subject: Subject, task: Task, test_logits: Array, cfg: SafetyConfig, seed: int) -> _Part:
    """AUROC and FPR@95TPR of max-softmax and energy scores (and, for an ensemble, of member
    disagreement), test split vs the OOD set."""
    ood, note = build_ood_set(cfg.ood, task, seed, cfg.ood_max_samples)
    if ood is None:
        return _Part(notes=[note] if note else [])
    out_logits = _logits(subject, ood.x)
    part = _Part(notes=[f"OOD set: {ood.source} ({len(out_logits)} samples)"])
    pairs = [
        (name, score(test_logits), score(out_logits))
        for name, score in ood_scores(subject, part.notes).items()
    ]
    m_in, m_out = _members(subject, task.test.x), _members(subject, ood.x)
    if m_in is not None and m_out is not None:
        pairs += [(name, f(m_in), f(m_out)) for name, f in _MEMBER_SCORES.items()]
    rows = []
    for name, s_in, s_out in pairs:
        auroc, fpr = M.ood_auroc(s_in, s_out), M.fpr_at_95_tpr(s_in, s_out)
        part.metrics[f"ood_auroc_{name}"] = Metric(auroc, True)
        part.metrics[f"ood_fpr95_{name}"] = Metric(fpr, False)
        rows.append({"score": name, "auroc": auroc, "fpr_at_95_tpr": fpr, "ood_set": ood.source})
        rows[-1].update({"n_in": len(s_in), "n_out": len(s_out)})
    part.tables["ood"] = rows
    return part


class SafetyPillar(Pillar):
    """Fairness, calibration (with temperature scaling), selective prediction and OOD."""

    Config = SafetyConfig

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        """Score ``subject`` on the test split (val for temperature scaling).

        Args:
            subject: the trained model.
            task: the task; ``group_names`` and test ``group`` ids enable fairness.
            seed: seeds the OOD noise and subsampling (same seed ⇒ same result).

        Returns:
            headline ``ece``; tables reliability, calibration, risk_coverage, groups,
            group_rates and ood (when they apply).
        """
        cfg: SafetyConfig = self.config
        y, logits = task.test.y.numpy(), _logits(subject, task.test.x)
        prob = M.softmax(logits)
        v = task.splits.get("val")
        val = (v.y.numpy(), _logits(subject, v.x)) if v is not None and len(v) else None
        parts = [
            _calibration(y, logits, val, cfg.bins),
            _selective(y, prob, cfg.coverage, _members(subject, task.test.x)),
            _fairness(task, y, prob, cfg.bins),
            _ood(subject, task, logits, cfg, seed),
        ]
        result = PillarResult("ece", {})
        if len(subject.members) > 1 and subject.combiner.probability_note:
            result.notes.append(subject.combiner.probability_note)
        for part in parts:
            result.metrics.update(part.metrics)
            result.tables.update(part.tables)
            result.notes.extend(part.notes)
        return result


PILLARS.register(
    "safety",
    help="ethics & safety: group fairness, calibration (ECE, temperature scaling), "
    "selective prediction (AURC) and OOD detection",
)(SafetyPillar)
