"""Statistics of the scorecard: confidence intervals over seeds and recipe-vs-baseline tests.

Seeds are few (typically 3–5), so intervals use Student's t distribution. A recipe is compared
with the baseline by one of three tests, chosen by :func:`compare`:

``seed × example t`` (when per-example values of the metric are known for every seed of both
recipes, on the same test examples, and both ran the same seeds). The test split is the same
for every seed and recipe, so the scores are a crossed design, seeds × test examples. With
``d[s][i]`` = recipe − baseline on example ``i`` for seed ``s``, the model is

    d_si = μ + a_s + b_i + c_si        (seed, example and interaction effects, all random)

and the difference of the metric is ``D̄ = mean(d)``. To hold for new seeds *and* new test
examples drawn like these, its variance is ``σa²/S + σb²/n + σc²/(nS)``. The components come
from the two-way ANOVA mean squares without replication (``E[MS_seed] = σc² + n·σa²``,
``E[MS_example] = σc² + S·σb²``, ``E[MS_residual] = σc²``), negative estimates set to zero, so
the estimate never falls below the residual term ``MS_residual/(nS)``; the reference is
Student's t with Satterthwaite's degrees of freedom for that combination of mean squares. If
every seed gives the same per-example differences it is the paired t-test over the examples;
if the examples agree it is the paired t-test over the seeds. A 0.3-point change on 300 test
rows that all seeds reproduce is therefore not significant: the test set's own sampling noise
counts, as Bouthillier et al. argue it must. In the simulation of
``benchmarks/significance_simulation.py`` (400 test rows, 3 and 5 seeds, no true difference)
its false-positive rate at α = 0.05 is 0.04–0.06, against 0.42–0.66 for the paired t-test over
seeds when the seeds reproduce the same per-example differences.

``paired t (seeds only)`` (same seeds, no per-example values): the paired t-test over the
seed-level values (seed ``s`` of both recipes shares the data split and initialisation
stream). It sees only seed noise: when every seed shifts the score by nearly the same amount it
can claim a difference far smaller than the test set resolves, so per-example values should be
given where the metric has them. ``Welch t (seeds only)`` (different seeds): Welch's
unequal-variance t-test over the seed-level values.

No claim is made from fewer than :data:`MIN_SEEDS` seeds, nor when the values have no spread
(a t statistic with zero standard error is no evidence): the p-value is then NaN and
:attr:`Comparison.reason` says why. (A bootstrap is not used: with 2–5 values per recipe it
resamples too few distinct values and gives p-values far too small.)

The t distribution is computed here from the regularized incomplete beta function (a
continued fraction), in plain Python: the report stays free of scipy and numpy, which take
seconds to import on a busy machine. The seed × example test is O(S·n).

References: Student, "The probable error of a mean", Biometrika 1908 (t interval, t-test);
Welch, "The generalization of Student's problem when several different population variances
are involved", Biometrika 1947 (unequal variances); Satterthwaite, "An approximate
distribution of estimates of variance components", Biometrics Bulletin 2(6), 1946 (degrees
of freedom of a combination of mean squares); Searle, Casella & McCulloch, "Variance
Components", Wiley 1992, ch. 4 (ANOVA estimation in the two-way crossed random model);
Bouthillier et al., "Accounting for variance in machine learning benchmarks", MLSys 2021
(data-sampling and seed variance to be accounted together); Press et al., "Numerical Recipes",
3rd ed., 2007, §6.4 (incomplete beta continued fraction).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "ALPHA",
    "MIN_SEEDS",
    "Comparison",
    "SeedExampleTest",
    "anova_mean_squares",
    "compare",
    "paired_t_test",
    "seed_example_test",
    "t_interval",
    "t_quantile",
    "t_sf",
    "welch_t_test",
]

ALPHA = 0.05
"""Significance level of every test and 1 - coverage of every interval."""

MIN_SEEDS = 3
"""Fewest seeds per recipe from which :func:`compare` makes a significance claim."""

_ROUNDING = 1e-12
"""Relative size below which a spread is taken as rounding error, i.e. as no spread."""


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


def _no_spread(spread: float, values: Sequence[float]) -> bool:
    """Whether a standard deviation is rounding error next to the magnitude of the values."""
    return spread <= _ROUNDING * max((abs(v) for v in values), default=0.0)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test of mean(b - a) = 0.

    Args:
        a: baseline values, one per seed.
        b: the other recipe's values for the same seeds, in the same order.

    Returns:
        the p-value with n - 1 degrees of freedom; NaN for fewer than two pairs. When the
        differences have no spread (equal up to rounding, relative 1e-12 of the values): 1.0
        if they are all zero, else NaN, since a zero standard error is no evidence (before,
        0.0 was returned). The :data:`MIN_SEEDS` policy is :func:`compare`'s, not this
        function's.
    """
    x, y = [float(v) for v in a], [float(v) for v in b]
    d = [q - p for p, q in zip(x, y, strict=True)]
    n = len(d)
    if n < 2:
        return math.nan
    sd, mean = statistics.stdev(d), statistics.fmean(d)
    if _no_spread(sd, x + y):
        return 1.0 if _no_spread(abs(mean), x + y) else math.nan
    t = mean / (sd / math.sqrt(n))
    return min(1.0, 2 * t_sf(abs(t), n - 1))


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test of mean(b) = mean(a).

    Args:
        a: baseline values.
        b: the other recipe's values (other seeds).

    Returns:
        the p-value with Welch–Satterthwaite degrees of freedom; NaN when a sample has fewer
        than two values. When both samples have no spread (up to rounding, relative 1e-12 of
        the values): 1.0 if the means are equal, else NaN (before, 0.0 was returned).
    """
    x, y = [float(v) for v in a], [float(v) for v in b]
    if len(x) < 2 or len(y) < 2:
        return math.nan
    vx, vy = statistics.variance(x) / len(x), statistics.variance(y) / len(y)
    diff = statistics.fmean(y) - statistics.fmean(x)
    if _no_spread(math.sqrt(vx + vy), x + y):
        return 1.0 if _no_spread(abs(diff), x + y) else math.nan
    t = diff / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return min(1.0, 2 * t_sf(abs(t), df))


class SeedExampleTest(NamedTuple):
    """Result of :func:`seed_example_test`.

    Attributes:
        difference: D̄, the mean of all per-example differences (recipe − baseline).
        std_error: the estimated standard error of D̄ for new seeds and new test examples,
            ``√(σa²/S + σb²/n + σc²/(nS))``; NaN when untestable.
        df: Satterthwaite degrees of freedom of ``std_error²``; NaN when untestable.
        p_value: two-sided p-value of D̄ = 0 against Student's t with ``df``; NaN when
            untestable (fewer than two seeds or examples, or no spread with D̄ ≠ 0), 1.0 when
            every difference is zero.
        seed_var: σa², the variance of the seed effect on the difference (clamped at 0).
        example_var: σb², the variance of the example effect on the difference (clamped at 0).
        residual_var: σc², the seed × example interaction variance (``MS_residual``).
    """

    difference: float
    std_error: float
    df: float
    p_value: float
    seed_var: float
    example_var: float
    residual_var: float


def _rows(values: Sequence[Sequence[float]], name: str) -> list[list[float]]:
    rows = [[float(v) for v in row] for row in values]
    if len({len(row) for row in rows}) > 1:
        raise ValueError(f"{name}: every seed needs the same number of examples")
    return rows


def anova_mean_squares(d: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Mean squares of the two-way ANOVA without replication of a seeds × examples table.

    Args:
        d: ``d[s][i]``, one row per seed, one column per example (S ≥ 2 rows of n ≥ 2).

    Returns:
        ``(MS_seed, MS_example, MS_residual)`` with S - 1, n - 1 and (S - 1)(n - 1) degrees of
        freedom: ``n·Σ_s (d̄_s − D̄)² / (S − 1)``, ``S·Σ_i (d̄_i − D̄)² / (n − 1)`` and
        ``Σ_si (d_si − d̄_s − d̄_i + D̄)² / ((S − 1)(n − 1))``.

    Raises:
        ValueError: rows of different lengths, or fewer than two seeds or examples.
    """
    rows = _rows(d, "d")
    return _mean_squares(rows)[1:]


def _mean_squares(rows: list[list[float]]) -> tuple[float, float, float, float]:
    """(grand mean, MS_seed, MS_example, MS_residual) of equal-length rows."""
    s, n = len(rows), len(rows[0]) if rows else 0
    if s < 2 or n < 2:
        raise ValueError(f"need at least 2 seeds and 2 examples, got {s} × {n}")
    row_means = [math.fsum(row) / n for row in rows]
    col_means = [math.fsum(col) / s for col in zip(*rows, strict=True)]
    grand = math.fsum(row_means) / s
    ms_seed = n * math.fsum((m - grand) ** 2 for m in row_means) / (s - 1)
    ms_example = s * math.fsum((m - grand) ** 2 for m in col_means) / (n - 1)
    offsets = [grand - m for m in col_means]
    ss_res = math.fsum(
        math.fsum((x - rm + off) ** 2 for x, off in zip(row, offsets, strict=True))
        for row, rm in zip(rows, row_means, strict=True)
    )
    return grand, ms_seed, ms_example, ss_res / ((s - 1) * (n - 1))


def seed_example_test(
    base: Sequence[Sequence[float]], other: Sequence[Sequence[float]]
) -> SeedExampleTest:
    """Test of mean(other) = mean(base) over seeds and test examples (crossed design).

    ``d[s][i] = other[s][i] - base[s][i]`` is modelled as ``μ + a_s + b_i + c_si`` and D̄ =
    mean(d) is tested with the variance ``σa²/S + σb²/n + σc²/(nS)`` (new seeds and new test
    examples), estimated from the two-way ANOVA mean squares (negative components set to zero)
    with Satterthwaite degrees of freedom; see the module docstring. With identical seeds it
    is the paired t-test over the examples. O(S·n) time, plain Python.

    Args:
        base: ``base[s][i]``, the baseline's per-example value (0/1 correctness, NLL, ...) of
            seed ``s`` on test example ``i``; the metric is the mean over examples.
        other: the recipe's values, same seeds in the same order, same examples in the same
            order.

    Returns:
        a :class:`SeedExampleTest`; NaN statistics for fewer than two seeds or examples.

    Raises:
        ValueError: when the tables differ in shape or have rows of different lengths.
    """
    b, o = _rows(base, "base"), _rows(other, "other")
    if len(b) != len(o) or (b and len(b[0]) != len(o[0])):
        raise ValueError("base and other need the same seeds × examples shape")
    d = [[y - x for x, y in zip(rb, ro, strict=True)] for rb, ro in zip(b, o, strict=True)]
    s, n = len(d), len(d[0]) if d else 0
    if s < 2 or n < 2:
        diff = math.fsum(map(math.fsum, d)) / (s * n) if s * n else math.nan
        return SeedExampleTest(diff, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    grand, ms_a, ms_b, ms_c = _mean_squares(d)
    seed_var = max(0.0, (ms_a - ms_c) / n)
    example_var = max(0.0, (ms_b - ms_c) / s)
    # V = Σ coefficient · MS / (nS) over the components kept; MS_residual's coefficient is
    # 1 less one per kept component (each kept component's estimate subtracts MS_residual).
    keep_a, keep_b = seed_var > 0.0, example_var > 0.0
    terms = [
        (ms_c, (s - 1) * (n - 1), 1.0 - keep_a - keep_b),
        (ms_a, s - 1, float(keep_a)),
        (ms_b, n - 1, float(keep_b)),
    ]
    var = math.fsum(c * ms for ms, _, c in terms) / (n * s)
    var = max(var, ms_c / (n * s))  # rounding only: each kept component is positive
    se = math.sqrt(var)
    scale = [v for row in b + o for v in row]
    if _no_spread(se, scale):
        p = 1.0 if _no_spread(abs(grand), scale) else math.nan
        return SeedExampleTest(grand, se, math.nan, p, seed_var, example_var, ms_c)
    df = (n * s * var) ** 2 / math.fsum((c * ms) ** 2 / k for ms, k, c in terms)
    p = min(1.0, 2 * t_sf(abs(grand) / se, df))
    return SeedExampleTest(grand, se, df, p, seed_var, example_var, ms_c)


@dataclass(frozen=True)
class Comparison:
    """A recipe's difference from the baseline on one metric.

    Attributes:
        difference: mean(recipe) - mean(baseline) of the seed-level values.
        p_value: two-sided p-value; NaN when no claim is made (see ``reason``).
        test: "seed × example t", "paired t (seeds only)" or "Welch t (seeds only)".
        reason: why ``p_value`` is NaN, e.g. "too few seeds (2 < 3)" or "no spread across
            seeds"; None when it is a number.
        significant: p_value < ALPHA (False when it is NaN).
    """

    difference: float
    p_value: float
    test: str
    reason: str | None = None

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_value) and self.p_value < ALPHA


def _aligned_examples(
    examples: Sequence[Sequence[float]] | None, seeds: Sequence[int], order: Sequence[int]
) -> list[Sequence[float]] | None:
    """Per-example rows reordered from ``seeds`` to ``order``; None if absent, ragged, shorter
    than two examples or not finite."""
    if examples is None or len(examples) != len(seeds):
        return None
    by_seed = dict(zip(seeds, examples, strict=True))
    rows = [by_seed[s] for s in order]
    if len({len(r) for r in rows}) != 1 or len(rows[0]) < 2:
        return None
    return rows if all(all(map(math.isfinite, r)) for r in rows) else None


def compare(
    base: Sequence[float],
    base_seeds: Sequence[int],
    other: Sequence[float],
    other_seeds: Sequence[int],
    *,
    base_examples: Sequence[Sequence[float]] | None = None,
    other_examples: Sequence[Sequence[float]] | None = None,
) -> Comparison:
    """Difference of means and its test, chosen by what is known (see the module docstring).

    Same seeds and per-example values for both: the seed × example t-test. Same seeds only:
    the paired t-test over seeds. Different seeds: Welch's t-test. A recipe with fewer than
    :data:`MIN_SEEDS` seeds gets no claim (p = NaN, with the reason).

    Args:
        base: baseline values, one per seed in ``base_seeds``.
        base_seeds: the seeds of ``base``.
        other: the recipe's values, one per seed in ``other_seeds``.
        other_seeds: the seeds of ``other``.
        base_examples: optional, ``base_examples[k][i]``, the baseline's per-example value on
            test example ``i`` for seed ``base_seeds[k]``, whose mean over ``i`` is ``base[k]``
            (e.g. 0/1 correctness for accuracy); None when unavailable.
        other_examples: the same for the recipe, aligned with ``other_seeds``, on the same
            test examples in the same order. Used only when both are given, the seed sets
            match, every row has the same length (≥ 2) and every value is finite; otherwise
            the seeds-only tests.
    """
    diff = statistics.fmean(other) - statistics.fmean(base)
    if sorted(base_seeds) == sorted(other_seeds):
        rows_b = _aligned_examples(base_examples, base_seeds, base_seeds)
        rows_o = _aligned_examples(other_examples, other_seeds, base_seeds)
        if rows_b is not None and rows_o is not None and len(rows_b[0]) != len(rows_o[0]):
            rows_b = rows_o = None
        test = "paired t (seeds only)" if rows_b is None or rows_o is None else "seed × example t"
        if len(base) < MIN_SEEDS:
            return Comparison(diff, math.nan, test, f"too few seeds ({len(base)} < {MIN_SEEDS})")
        if rows_b is not None and rows_o is not None:
            p = seed_example_test(rows_b, rows_o).p_value
            reason = "no spread across seeds or examples" if math.isnan(p) else None
            return Comparison(diff, p, test, reason)
        by_seed = dict(zip(other_seeds, other, strict=True))
        p = paired_t_test(base, [by_seed[s] for s in base_seeds])
        return Comparison(diff, p, test, "no spread across seeds" if math.isnan(p) else None)
    test = "Welch t (seeds only)"
    fewest = min(len(base), len(other))
    if fewest < MIN_SEEDS:
        return Comparison(diff, math.nan, test, f"too few seeds ({fewest} < {MIN_SEEDS})")
    p = welch_t_test(base, other)
    return Comparison(diff, p, test, "no spread across seeds" if math.isnan(p) else None)
