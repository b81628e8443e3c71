"""Statistics of the scorecard: confidence intervals over seeds and recipe-vs-baseline tests.

Seeds are few (typically 3–5), so intervals use Student's t distribution, and a recipe is
compared with the baseline by a paired t-test over the seeds both ran (seed ``s`` of both
recipes shares the data split and initialisation stream), or by Welch's t-test when the seeds
do not match. (A bootstrap is not used: with 2–5 values per recipe it resamples too few
distinct values and gives p-values far too small.)

The t distribution is computed here from the regularized incomplete beta function (a
continued fraction), in plain Python: the report stays free of scipy and numpy, which take
seconds to import on a busy machine.

Reference: Student, "The probable error of a mean", Biometrika 1908 (t interval, t-test);
Welch, "The generalization of Student's problem...", Biometrika 1947 (unequal variances);
Press et al., "Numerical Recipes", 3rd ed., 2007, §6.4 (incomplete beta continued fraction).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ALPHA",
    "Comparison",
    "compare",
    "paired_t_test",
    "t_interval",
    "t_quantile",
    "t_sf",
    "welch_t_test",
]

ALPHA = 0.05
"""Significance level of every test and 1 - coverage of every interval."""


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _beta_regularized(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 ≤ x ≤ 1."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t distribution with ``df`` degrees of freedom."""
    tail = 0.5 * _beta_regularized(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t distribution (bisection on :func:`t_sf`, |error|
    below 1e-10)."""
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1 - p:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-11 * max(1.0, hi):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_sf(mid, df) > 1 - p else (lo, mid)
    return (lo + hi) / 2


def t_interval(values: Sequence[float], confidence: float = 1 - ALPHA) -> float:
    """Half-width of the Student-t confidence interval of the mean.

    Args:
        values: one value per seed.
        confidence: coverage of the interval.

    Returns:
        ``t_{(1+confidence)/2, n-1} · s / √n``; NaN for fewer than two values (no spread is
        measurable from one seed).
    """
    n = len(values)
    if n < 2:
        return math.nan
    sd = statistics.stdev(float(v) for v in values)
    return t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test of mean(b - a) = 0.

    Args:
        a: baseline values, one per seed.
        b: the other recipe's values for the same seeds, in the same order.

    Returns:
        the p-value; 1.0 when all differences are equal to zero, 0.0 when they are equal and
        non-zero (zero spread), NaN for fewer than two pairs.
    """
    d = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    n = len(d)
    if n < 2:
        return math.nan
    sd, mean = statistics.stdev(d), statistics.fmean(d)
    if sd == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = mean / (sd / math.sqrt(n))
    return min(1.0, 2 * t_sf(abs(t), n - 1))


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test of mean(b) = mean(a).

    Args:
        a: baseline values.
        b: the other recipe's values (other seeds).

    Returns:
        the p-value with Welch–Satterthwaite degrees of freedom; NaN when a sample has fewer
        than two values; 1.0 / 0.0 when both samples have zero spread and equal / different
        means.
    """
    x, y = [float(v) for v in a], [float(v) for v in b]
    if len(x) < 2 or len(y) < 2:
        return math.nan
    vx, vy = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
    diff = statistics.fmean(y) - statistics.fmean(x)
    if vx + vy == 0.0:
        return 1.0 if diff == 0.0 else 0.0
    t = diff / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return min(1.0, 2 * t_sf(abs(t), df))


@dataclass(frozen=True)
class Comparison:
    """A recipe's difference from the baseline on one metric.

    Attributes:
        difference: mean(recipe) - mean(baseline).
        p_value: two-sided p-value (NaN when untestable, e.g. a single seed).
        test: "paired t" or "Welch t".
        significant: p_value < ALPHA.
    """

    difference: float
    p_value: float
    test: str

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_value) and self.p_value < ALPHA


def compare(
    base: Sequence[float],
    base_seeds: Sequence[int],
    other: Sequence[float],
    other_seeds: Sequence[int],
) -> Comparison:
    """Difference of means and its test: paired t when both ran the same seeds, else Welch t.

    Args:
        base: baseline values, one per seed in ``base_seeds``.
        base_seeds: the seeds of ``base``.
        other: the recipe's values, one per seed in ``other_seeds``.
        other_seeds: the seeds of ``other``.
    """
    diff = statistics.fmean(other) - statistics.fmean(base)
    if sorted(base_seeds) == sorted(other_seeds):
        by_seed = dict(zip(other_seeds, other, strict=True))
        paired = [by_seed[s] for s in base_seeds]
        return Comparison(diff, paired_t_test(base, paired), "paired t")
    return Comparison(diff, welch_t_test(base, other), "Welch t")
