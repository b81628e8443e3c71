"""Pillar scores: each pillar's raw metrics of one trial mapped to a 0–100 score.

The scores feed the radar charts only; every table shows the raw metrics. Each score is the
mean of the components the trial has (a component whose metrics are missing is skipped), and a
pillar that was not evaluated has no score (``None``), never 0. Every component is clipped to
[0, 100]. ``docs/scores.md`` and the report itself state the same rules (:data:`SCORE_RULES`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PILLAR_ORDER", "SCORE_RULES", "pillar_score", "pillar_scores"]

PILLAR_ORDER = ("generalization", "data_efficiency", "robustness", "interpretability", "safety")

SCORE_RULES: dict[str, str] = {
    "generalization": "100 × test accuracy; with shift splits, the mean of 100 × test accuracy "
    "and 100 × mean shift-split accuracy",
    "data_efficiency": "100 × AULC, the area under test accuracy vs log label fraction "
    "divided by the log range (= mean accuracy along a log-spaced fraction axis)",
    "robustness": "mean of 100 × (mean corruption accuracy / clean accuracy) and "
    "100 × (mean L∞ worst-case adversarial accuracy / clean accuracy), and for text "
    "100 × (accuracy at the largest edit budget / clean accuracy)",
    "interpretability": "100 × the headline method's faithfulness gain over a random order, "
    "divided by the gain of a perfect order (deletion curve at 0 and insertion curve at 1): "
    "½ [random deletion AUC + (1 − random insertion AUC)]; 0 = no better than random",
    "safety": "mean of 100 × (1 − ECE), 100 × (1 − equalized-odds difference) when there are "
    "sensitive groups, and 100 × 2 (AUROC − ½) of max-softmax OOD detection when there "
    "is an OOD set (chance = 0)",
}


def _clip(value: float) -> float:
    return min(100.0, max(0.0, value))


def _values(pillar: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(m["value"]) for k, m in pillar.get("metrics", {}).items()}


def _generalization(m: dict[str, float]) -> list[float]:
    if "test_accuracy" not in m:
        return []
    parts = [100 * m["test_accuracy"]]
    if "shift_accuracy_mean" in m:
        parts.append(100 * m["shift_accuracy_mean"])
    return [statistics.fmean(parts)]


def _data_efficiency(m: dict[str, float]) -> list[float]:
    return [100 * m["aulc"]] if "aulc" in m else []


def _robustness(m: dict[str, float]) -> list[float]:
    clean = m.get("clean_accuracy", 0.0)
    if clean <= 0:
        return []
    parts = [m[k] for k in ("mean_corruption_accuracy", "mean_autoattack_accuracy") if k in m]
    text = sorted((int(k.split("@")[1]), v) for k, v in m.items() if k.startswith("text_attack"))
    if text:
        parts.append(text[-1][1])
    return [100 * p / clean for p in parts]


def _interpretability(m: dict[str, float], headline: str) -> list[float]:
    needed = (headline, "random_deletion_auc", "random_insertion_auc")
    if not headline.endswith("faithfulness_gain") or any(k not in m for k in needed):
        return []
    perfect = (m["random_deletion_auc"] + 1 - m["random_insertion_auc"]) / 2
    return [100 * m[headline] / perfect] if perfect > 0 else []


def _safety(m: dict[str, float]) -> list[float]:
    parts = []
    if "ece" in m:
        parts.append(100 * (1 - m["ece"]))
    if "equalized_odds_difference" in m:
        parts.append(100 * (1 - m["equalized_odds_difference"]))
    if "ood_auroc_msp" in m:
        parts.append(100 * 2 * (m["ood_auroc_msp"] - 0.5))
    return parts


_RULES: dict[str, Callable[[dict[str, float], str], list[float]]] = {
    "generalization": lambda m, _: _generalization(m),
    "data_efficiency": lambda m, _: _data_efficiency(m),
    "robustness": lambda m, _: _robustness(m),
    "interpretability": _interpretability,
    "safety": lambda m, _: _safety(m),
}


def pillar_score(name: str, pillar: Mapping[str, Any]) -> float | None:
    """The 0–100 score of one pillar result (``PillarResult.to_json()`` form).

    Args:
        name: the pillar's registered name.
        pillar: its result: ``headline``, ``metrics`` (name → value, higher_is_better).

    Returns:
        the score, or None for an unknown pillar or when none of its components is available.
    """
    rule = _RULES.get(name)
    if rule is None:
        return None
    parts = [_clip(p) for p in rule(_values(pillar), str(pillar.get("headline", "")))]
    return statistics.fmean(parts) if parts else None


def pillar_scores(result: Mapping[str, Any]) -> dict[str, float | None]:
    """Scores of one trial's five pillars, in :data:`PILLAR_ORDER` (None = not evaluated)."""
    pillars = result.get("pillars", {})
    return {
        name: pillar_score(name, pillars[name]) if name in pillars else None
        for name in PILLAR_ORDER
    }
