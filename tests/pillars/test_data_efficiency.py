"""Data efficiency: the normalised log-area and the fraction-to-target, against direct sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivefold.errors import ConfigError
from fivefold.pillars import PILLARS
from fivefold.pillars.data_efficiency import (
    area_under_log_curve,
    efficiency_result,
    fraction_to_reach,
)


def test_area_matches_numpy_trapezoid_on_log_axis() -> None:
    curve = {0.02: 0.4, 0.05: 0.6, 0.1: 0.7, 0.25: 0.85, 0.5: 0.9, 1.0: 0.95}
    xs = np.log(sorted(curve))
    ys = np.array([curve[f] for f in sorted(curve)])
    expected = np.trapezoid(ys, xs) / (xs[-1] - xs[0])
    assert area_under_log_curve(curve) == pytest.approx(expected)


@given(st.floats(0.0, 1.0), st.lists(st.floats(0.01, 0.99), min_size=1, max_size=6, unique=True))
def test_flat_curve_area_equals_its_accuracy(acc: float, fractions: list[float]) -> None:
    curve = dict.fromkeys([*fractions, 1.0], acc)
    assert area_under_log_curve(curve) == pytest.approx(acc)


@given(st.dictionaries(st.floats(0.01, 0.99), st.floats(0, 1), min_size=1, max_size=6))
def test_area_is_within_min_and_max_accuracy(points: dict[float, float]) -> None:
    curve = {**points, 1.0: 0.5}
    area = area_under_log_curve(curve)
    assert min(curve.values()) - 1e-9 <= area <= max(curve.values()) + 1e-9


def test_fraction_to_reach() -> None:
    curve = {0.02: 0.4, 0.1: 0.92, 0.25: 0.955, 1.0: 0.96}
    assert fraction_to_reach(curve, 0.95) == 0.1
    assert fraction_to_reach(curve, 0.99) == 0.25
    assert fraction_to_reach(curve, 1.0) == 1.0


def test_result_structure() -> None:
    result = efficiency_result({0.1: 0.5, 1.0: 0.9}, 0.95)
    assert result.headline == "aulc"
    assert result.metrics["fraction_to_target"].higher_is_better is False
    assert result.metrics["accuracy@0.1"].value == 0.5
    assert [r["fraction"] for r in result.tables["learning_curve"]] == [0.1, 1.0]
    assert math.isclose(result.metrics["aulc"].value, 0.7)


def test_config_validation() -> None:
    specs = PILLARS.specs({"data_efficiency": {"fractions": [0.1, 1.0]}})
    assert specs[0].config.refit_fractions == (0.1,)
    with pytest.raises(ConfigError, match=r"pillars\.data_efficiency\.fractions"):
        PILLARS.specs({"data_efficiency": {"fractions": [0.0, 1.0]}})
    with pytest.raises(ConfigError, match="at least two distinct"):
        PILLARS.specs({"data_efficiency": {"fractions": [1.0]}})
