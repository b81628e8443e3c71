"""Trust checks of test predictions: chance level, collapse and a class-order mismatch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fivefold.pillars.metrics.trust import binomial_sf, chance_accuracy, prediction_warnings

NAMES = ("benign", "malignant")


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.3), (7, 10, 0.3), (60, 66, 0.33), (5, 5, 0.5)])
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def test_chance_is_the_majority_rate() -> None:
    y = np.array([0, 0, 0, 1, 2])
    assert chance_accuracy(y, 3) == (0.6, 0)


def test_a_good_model_has_no_warning() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    pred = np.where(rng.random(300) < 0.9, y, 1 - y)
    lines, facts = prediction_warnings(y, pred, NAMES)
    assert lines == []
    assert facts["p_above_chance"] < 1e-6


def test_one_class_for_everything_is_collapse_at_chance() -> None:
    y = np.array([0] * 20 + [1] * 23 + [2] * 23)  # ArrowHead-like: 66 rows, 3 classes
    pred = np.full_like(y, 1)
    lines, facts = prediction_warnings(y, pred, ("a", "b", "c"))
    assert facts["top_predicted_share"] == 1.0
    assert lines[0].startswith("collapsed: predicts 'b' for 100% of the 66 test rows")
    assert lines[1].startswith("at or below chance: accuracy 0.3485 against 0.3485")


def test_swapped_labels_are_named_with_the_order_that_fits() -> None:
    y = np.array([0] * 357 + [1] * 212)  # breast cancer: benign first when sorted
    pred = 1 - y
    pred[:5] = 0  # five rows right by chance
    lines, facts = prediction_warnings(y, pred, NAMES, classes_option="--classes")
    assert len(lines) == 1
    assert lines[0].startswith("far below chance: accuracy 0.0088")
    assert "--classes to malignant,benign" in lines[0]
    assert facts["relabelled_accuracy"] == pytest.approx(1 - 5 / 569)


def test_a_weak_result_on_few_rows_is_not_clearly_above_chance() -> None:
    y = np.array([0, 1, 2] * 10)
    pred = y.copy()
    pred[:17] = (y[:17] + 1) % 3  # 13 of 30 right, chance 1/3: p ≈ 0.27
    lines, facts = prediction_warnings(y, pred, ("a", "b", "c"))
    assert len(lines) == 1 and lines[0].startswith("not clearly above chance")
    assert facts["p_above_chance"] == pytest.approx(stats.binom.sf(12, 30, 1 / 3))
