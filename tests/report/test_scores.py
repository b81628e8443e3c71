"""Pillar scores: the documented 0–100 rules, checked by hand-computed invariants."""

from __future__ import annotations

from typing import Any

import pytest

from fivefold.report.scores import PILLAR_ORDER, SCORE_RULES, pillar_score, pillar_scores


def _pillar(headline: str, **metrics: float) -> dict[str, Any]:
    return {
        "headline": headline,
        "metrics": {k: {"value": v, "higher_is_better": True} for k, v in metrics.items()},
    }


def test_generalization_is_accuracy_times_100_and_averages_shift() -> None:
    assert pillar_score("generalization", _pillar("test_accuracy", test_accuracy=0.9)) == 90.0
    both = _pillar("test_accuracy", test_accuracy=0.9, shift_accuracy_mean=0.5)
    assert pillar_score("generalization", both) == pytest.approx(70.0)


def test_data_efficiency_is_aulc() -> None:
    assert pillar_score("data_efficiency", _pillar("aulc", aulc=0.8)) == pytest.approx(80.0)


def test_robustness_is_relative_to_clean_and_clipped() -> None:
    p = _pillar("x", clean_accuracy=0.8, mean_corruption_accuracy=0.4, mean_autoattack_accuracy=0.2)
    assert pillar_score("robustness", p) == pytest.approx((50 + 25) / 2)
    above = _pillar("x", clean_accuracy=0.5, mean_corruption_accuracy=0.6)
    assert pillar_score("robustness", above) == 100.0
    text = _pillar(
        "x", clean_accuracy=0.8, **{"text_attack_accuracy@1": 0.6, "text_attack_accuracy@3": 0.2}
    )
    assert pillar_score("robustness", text) == pytest.approx(25.0)


def test_interpretability_random_is_0_and_perfect_is_100() -> None:
    rd, ri = 0.4, 0.3
    perfect_gain = ((rd - 0.0) + (1.0 - ri)) / 2  # deletion AUC 0, insertion AUC 1
    for gain, expected in ((0.0, 0.0), (perfect_gain, 100.0), (perfect_gain / 2, 50.0)):
        p = _pillar(
            "ig_faithfulness_gain",
            ig_faithfulness_gain=gain,
            random_deletion_auc=rd,
            random_insertion_auc=ri,
        )
        assert pillar_score("interpretability", p) == pytest.approx(expected)


def test_safety_averages_available_components() -> None:
    assert pillar_score("safety", _pillar("ece", ece=0.1)) == pytest.approx(90.0)
    chance = _pillar("ece", ece=0.0, ood_auroc_msp=0.5)
    assert pillar_score("safety", chance) == pytest.approx(50.0)
    fair = _pillar("ece", ece=0.0, ood_auroc_msp=1.0, equalized_odds_difference=0.3)
    assert pillar_score("safety", fair) == pytest.approx((100 + 100 + 70) / 3)


def test_missing_pillar_is_none_not_zero() -> None:
    scores = pillar_scores({"pillars": {"data_efficiency": _pillar("aulc", aulc=0.5)}})
    assert list(scores) == list(PILLAR_ORDER)
    assert scores["data_efficiency"] == 50.0
    assert all(scores[p] is None for p in PILLAR_ORDER if p != "data_efficiency")
    assert pillar_score("robustness", _pillar("x")) is None


def test_every_pillar_has_a_documented_rule() -> None:
    assert set(SCORE_RULES) == set(PILLAR_ORDER)
