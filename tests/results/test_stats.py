"""Statistics of the scorecard against scipy.stats (an independent implementation)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fivefold.results.stats import (
    compare,
    paired_t_test,
    t_interval,
    t_quantile,
    t_sf,
    welch_t_test,
)

finite = st.integers(-100_000, 100_000).map(lambda i: i / 1000)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 30, 2.5])
@pytest.mark.parametrize("t", [-3.0, -0.4, 0.0, 0.7, 2.0, 6.5, 40.0])
def test_t_sf_matches_scipy(df: float, t: float) -> None:
    assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 100])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995, 0.025])
def test_t_quantile_matches_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8)


@given(st.lists(finite, min_size=2, max_size=8))
@settings(max_examples=40, deadline=None)
def test_t_interval_matches_scipy(values: list[float]) -> None:
    sem = stats.sem(values)
    if sem == 0:
        assert t_interval(values) == 0.0
        return
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=sum(values) / len(values), scale=sem)
    assert t_interval(values) == pytest.approx((hi - lo) / 2, rel=1e-7)


def test_t_interval_of_one_value_is_undefined() -> None:
    assert math.isnan(t_interval([0.5]))


@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=8))
@settings(max_examples=40, deadline=None)
def test_paired_t_test_matches_scipy(pairs: list[tuple[float, float]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = [y - x for x, y in pairs]
    if max(d) - min(d) < 1e-9 * (1 + max(abs(v) for v in d)):
        return  # zero spread: scipy returns nan, we return NaN or 1 (tested below)
    assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-6, abs=1e-12)


def test_paired_t_test_degenerate_cases() -> None:
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]) == 1.0
    assert math.isnan(paired_t_test([1.0, 2.0], [1.5, 2.5]))  # no spread: no evidence
    assert math.isnan(paired_t_test([0.7, 0.8, 0.9], [0.8, 0.9, 1.0]))  # equal up to rounding
    assert math.isnan(paired_t_test([1.0], [2.0]))


def test_welch_t_test_degenerate_cases() -> None:
    assert welch_t_test([1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0
    assert math.isnan(welch_t_test([1.0, 1.0], [1.5, 1.5]))
    assert math.isnan(welch_t_test([1.0], [1.5, 2.0]))


@given(st.lists(finite, min_size=2, max_size=6), st.lists(finite, min_size=2, max_size=6))
@settings(max_examples=40, deadline=None)
def test_welch_t_test_matches_scipy(a: list[float], b: list[float]) -> None:
    if stats.tstd(a) < 1e-6 or stats.tstd(b) < 1e-6:
        return
    expected = stats.ttest_ind(b, a, equal_var=False).pvalue
    assert welch_t_test(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_compare_pairs_by_seed_whatever_the_order() -> None:
    base, other = [0.80, 0.82, 0.85], [0.90, 0.81, 0.84]  # seeds 0, 1, 2
    c = compare(base, [0, 1, 2], other[::-1], [2, 1, 0])
    assert c.test == "paired t (seeds only)"
    assert c.reason is None
    assert c.p_value == pytest.approx(stats.ttest_rel(other, base).pvalue)
    assert c.difference == pytest.approx(sum(other) / 3 - sum(base) / 3)


def test_compare_uses_welch_when_seeds_differ() -> None:
    c = compare([0.80, 0.82, 0.85], [0, 1, 2], [0.90, 0.91, 0.86], [3, 4, 5])
    assert c.test == "Welch t (seeds only)"
    expected = stats.ttest_ind([0.90, 0.91, 0.86], [0.80, 0.82, 0.85], equal_var=False).pvalue
    assert c.p_value == pytest.approx(expected)
    assert c.significant == (expected < 0.05)


def test_single_seed_is_never_significant() -> None:
    c = compare([0.8], [0], [0.99], [0])
    assert math.isnan(c.p_value)
    assert not c.significant
    assert c.reason == "too few seeds (1 < 3)"
