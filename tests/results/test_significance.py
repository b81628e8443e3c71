"""The seed × example t-test and the MIN_SEEDS / no-spread policy of compare().

Known answers against scipy.stats and a naive ANOVA, then a simulation with a known truth:
per-example 0/1 correctness from a probit model with per-example difficulty (shared by all
seeds and recipes), each recipe's own per-example effect (shared by its seeds) and a per-run
accuracy offset (seed variance). Plain Python and fixed random.Random seeds throughout.
"""

from __future__ import annotations

import math
import random
import time
from statistics import NormalDist

import pytest
from scipy import stats

from fivefold.results.stats import (
    ALPHA,
    MIN_SEEDS,
    Comparison,
    anova_mean_squares,
    compare,
    paired_t_test,
    seed_example_test,
    t_sf,
)


def _table(rng: random.Random, seeds: int, rows: int) -> list[list[float]]:
    return [[rng.gauss(0.0, 1.0) for _ in range(rows)] for _ in range(seeds)]


def _rows(seeds: int, rows: int, p: float, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[float(rng.random() < p) for _ in range(rows)] for _ in range(seeds)]


def _means(rows: list[list[float]]) -> list[float]:
    return [sum(r) / len(r) for r in rows]


def _compare_rows(
    base: list[list[float]],
    other: list[list[float]],
    seeds: list[int],
    other_seeds: list[int] | None = None,
    other_examples: list[list[float]] | None = None,
) -> Comparison:
    """``compare`` of the seed means with the per-row tables as examples (``other_examples``
    replaces the recipe's rows when given)."""
    return compare(
        _means(base),
        seeds,
        _means(other),
        seeds if other_seeds is None else other_seeds,
        base_examples=base,
        other_examples=other if other_examples is None else other_examples,
    )


# Known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("df", [1e3, 1e4, 1e5, 3e6])
@pytest.mark.parametrize("t", [0.3, 1.96, 4.0])
def test_t_sf_holds_for_the_large_df_of_many_examples(df: float, t: float) -> None:
    assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-8)


@pytest.mark.parametrize("binary", [True, False])
def test_identical_seeds_reduce_to_the_paired_t_test_over_examples(binary: bool) -> None:
    rng = random.Random(1)
    n = 300
    if binary:
        base = [float(rng.random() < 0.80) for _ in range(n)]
        other = [float(rng.random() < 0.83) for _ in range(n)]
    else:
        base = [rng.gauss(1.0, 0.5) for _ in range(n)]
        other = [b + rng.gauss(0.05, 0.3) for b in base]
    res = seed_example_test([base] * 4, [other] * 4)
    expected = stats.ttest_rel(other, base)
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert res.df == pytest.approx(n - 1)
    assert res.difference == pytest.approx(sum(other) / n - sum(base) / n)
    assert res.seed_var == 0.0
    assert res.residual_var == pytest.approx(0.0, abs=1e-20)


def test_identical_examples_reduce_to_the_paired_t_test_over_seeds() -> None:
    rng = random.Random(2)
    base_acc = [0.80, 0.82, 0.79, 0.81, 0.84]
    other_acc = [a + rng.gauss(0.01, 0.01) for a in base_acc]
    n = 50  # every example has the seed's value: no example effect, no interaction
    res = seed_example_test([[a] * n for a in base_acc], [[a] * n for a in other_acc])
    assert res.p_value == pytest.approx(paired_t_test(base_acc, other_acc), rel=1e-6)
    assert res.p_value == pytest.approx(stats.ttest_rel(other_acc, base_acc).pvalue, rel=1e-6)
    assert res.df == pytest.approx(len(base_acc) - 1)


def _naive_mean_squares(d: list[list[float]]) -> tuple[float, float, float]:
    """The textbook sums of squares: SS_total = SS_seed + SS_example + SS_residual."""
    s, n = len(d), len(d[0])
    grand = sum(sum(row) for row in d) / (s * n)
    row = [sum(d[j][i] for i in range(n)) / n for j in range(s)]
    col = [sum(d[j][i] for j in range(s)) / s for i in range(n)]
    ss_total = sum((d[j][i] - grand) ** 2 for j in range(s) for i in range(n))
    ss_seed = sum(n * (row[j] - grand) ** 2 for j in range(s))
    ss_example = sum(s * (col[i] - grand) ** 2 for i in range(n))
    ss_res = ss_total - ss_seed - ss_example
    return ss_seed / (s - 1), ss_example / (n - 1), ss_res / ((s - 1) * (n - 1))


@pytest.mark.parametrize(
    ("seeds", "rows", "seed_sd", "example_sd"),
    # both components kept, the example one only, the seed one only, neither
    [(3, 7, 0.5, 0.2), (5, 20, 0.0, 1.0), (4, 11, 2.0, 0.0), (3, 10, 0.0, 0.0)],
)
def test_against_a_naive_anova_and_satterthwaite(
    seeds: int, rows: int, seed_sd: float, example_sd: float
) -> None:
    rng = random.Random(seeds * 100 + rows)
    a = [rng.gauss(0.0, seed_sd) for _ in range(seeds)]
    b = [rng.gauss(0.0, example_sd) for _ in range(rows)]
    base = _table(rng, seeds, rows)
    other = [
        [base[j][i] + 0.3 + a[j] + b[i] + rng.gauss(0.0, 0.4) for i in range(rows)]
        for j in range(seeds)
    ]
    d = [[o - x for x, o in zip(rb, ro, strict=True)] for rb, ro in zip(base, other, strict=True)]
    ms_a, ms_b, ms_c = _naive_mean_squares(d)
    assert anova_mean_squares(d) == pytest.approx((ms_a, ms_b, ms_c), rel=1e-9)

    # The variance components, clamped at zero, and V = σa²/S + σb²/n + σc²/(nS).
    var_a, var_b = max(0.0, (ms_a - ms_c) / rows), max(0.0, (ms_b - ms_c) / seeds)
    v = var_a / seeds + var_b / rows + ms_c / (rows * seeds)
    # Satterthwaite over the mean squares V is made of, V·nS = Σ c_k MS_k.
    parts = [(ms_c, (seeds - 1) * (rows - 1), 1 - (var_a > 0) - (var_b > 0))]
    parts += [(ms_a, seeds - 1, int(var_a > 0)), (ms_b, rows - 1, int(var_b > 0))]
    df = (v * rows * seeds) ** 2 / sum((c * m) ** 2 / k for m, k, c in parts)
    mean = sum(map(sum, d)) / (seeds * rows)
    res = seed_example_test(base, other)
    assert res.difference == pytest.approx(mean, rel=1e-12)
    assert res.std_error == pytest.approx(math.sqrt(v), rel=1e-9)
    assert res.df == pytest.approx(df, rel=1e-9)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(mean) / math.sqrt(v), df), rel=1e-7)
    assert (res.seed_var, res.example_var) == pytest.approx((var_a, var_b), abs=1e-12)


def test_symmetric_and_shift_invariant() -> None:
    rng = random.Random(3)
    base, other = _table(rng, 3, 40), _table(rng, 3, 40)
    res = seed_example_test(base, other)
    swapped = seed_example_test(other, base)
    assert swapped.difference == pytest.approx(-res.difference)
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-12)
    shifted = seed_example_test(
        [[v + 5 for v in r] for r in base], [[v + 5 for v in r] for r in other]
    )
    assert shifted.p_value == pytest.approx(res.p_value, rel=1e-9)


def test_degenerate_tables() -> None:
    same = [[0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    assert seed_example_test(same, same).p_value == 1.0
    constant = seed_example_test(same, [[v + 0.1 for v in r] for r in same])
    assert math.isnan(constant.p_value)  # every difference 0.1: no spread, no evidence
    one_seed = seed_example_test([[0.0, 1.0]], [[1.0, 1.0]])
    assert math.isnan(one_seed.p_value)
    assert one_seed.difference == 0.5
    with pytest.raises(ValueError, match="same number of examples"):
        seed_example_test([[0.0, 1.0], [1.0]], [[0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        seed_example_test(same, same[:2])


def test_fast_for_ten_thousand_rows_and_ten_seeds() -> None:
    rng = random.Random(4)
    base = [[float(rng.random() < 0.8) for _ in range(10_000)] for _ in range(10)]
    other = [[float(rng.random() < 0.8) for _ in range(10_000)] for _ in range(10)]
    start = time.perf_counter()
    res = seed_example_test(base, other)
    assert time.perf_counter() - start < 2.0  # about 0.05 s on an idle core
    assert 0.0 <= res.p_value <= 1.0


# Simulation with a known truth ----------------------------------------------------------


def _experiment(
    rng: random.Random,
    seeds: int,
    rows: int,
    delta: float,
    flip: float,
    offset: float,
    noise: float,
) -> tuple[list[list[float]], list[list[float]]]:
    """0/1 correctness ``(base[s][i], other[s][i])``: correct iff ``μ_r + difficulty_i +
    flip_{r,i} + seed_s + offset_{r,s} + noise > 0`` (centred Gaussians), so the population
    accuracy is exactly Φ(μ_r/τ): 80 % for the baseline, 80 % + ``delta`` for the recipe."""
    sd_difficulty, sd_seed = 1.5, 0.1
    tau = math.sqrt(sd_difficulty**2 + flip**2 + sd_seed**2 + offset**2 + noise**2)
    inv = NormalDist().inv_cdf
    difficulty = [rng.gauss(0.0, sd_difficulty) for _ in range(rows)]
    shared = [rng.gauss(0.0, sd_seed) for _ in range(seeds)]
    k = 1.0 / (noise * math.sqrt(2.0))
    out = []
    for mu in (tau * inv(0.80), tau * inv(0.80 + delta)):
        latent = [mu + d + rng.gauss(0.0, flip) for d in difficulty]
        runs = []
        for s in range(seeds):
            shift = shared[s] + rng.gauss(0.0, offset)
            runs.append(
                [1.0 if 2.0 * rng.random() < math.erfc(-(m + shift) * k) else 0.0 for m in latent]
            )
        out.append(runs)
    return out[0], out[1]


TYPICAL = {"flip": 0.5, "offset": 0.1, "noise": 0.7}  # predictions vary across seeds
REPRODUCIBLE = {"flip": 1.0, "offset": 0.01, "noise": 0.1}  # seeds barely change them


def _claim_rates(
    seed: int, experiments: int, seeds: int, rows: int, delta: float, setting: dict[str, float]
) -> tuple[float, float]:
    """(new test, old paired t over seeds): fraction of experiments with p < ALPHA."""
    rng = random.Random(seed)
    new = old = 0
    for _ in range(experiments):
        base, other = _experiment(rng, seeds, rows, delta, **setting)
        new += seed_example_test(base, other).p_value < ALPHA
        p = paired_t_test([sum(r) / rows for r in base], [sum(r) / rows for r in other])
        old += p < ALPHA  # NaN compares False
    return new / experiments, old / experiments


@pytest.mark.parametrize("seeds", [3, 5])
def test_false_positive_rate_under_no_difference(seeds: int) -> None:
    # 1000 experiments: the standard error of a 5 % rate is 0.7 points.
    new, _ = _claim_rates(10 + seeds, 1000, seeds, 300, 0.0, TYPICAL)
    assert new <= 0.07
    new, old = _claim_rates(20 + seeds, 600, seeds, 300, 0.0, REPRODUCIBLE)
    assert new <= 0.07
    assert old >= 0.25  # the bug: the seeds-only test ignores the test set's sampling noise


@pytest.mark.parametrize("seeds", [3, 5])
def test_power_at_a_real_difference_of_eight_points(seeds: int) -> None:
    for k, setting in enumerate((TYPICAL, REPRODUCIBLE)):
        new, _ = _claim_rates(30 + seeds + k, 200, seeds, 300, 0.08, setting)
        assert new >= 0.75


def test_a_reproducible_small_change_is_not_significant() -> None:
    # Every seed makes the same 19 changes, 10 wrong → right and 9 right → wrong: +0.33
    # points on 300 rows; the seeds differ only by a tiny jitter of the baseline's values.
    rng = random.Random(5)
    base = [float(rng.random() < 0.8) for _ in range(300)]
    wrong = [i for i, v in enumerate(base) if v == 0.0][:10]
    right = [i for i, v in enumerate(base) if v == 1.0][:9]
    other = [1.0 - v if i in wrong + right else v for i, v in enumerate(base)]
    base_rows = [[b + 1e-4 * rng.random() for b in base] for _ in range(3)]
    other_rows = [other] * 3
    c = _compare_rows(base_rows, other_rows, [0, 1, 2])
    assert c.test == "seed × example t"
    assert c.difference == pytest.approx(1 / 300, abs=1e-4)
    assert c.p_value > 0.5
    assert c.p_value == pytest.approx(stats.ttest_rel(other, base).pvalue, abs=0.01)
    old = compare(_means(base_rows), [0, 1, 2], _means(other_rows), [0, 1, 2])
    assert old.test == "paired t (seeds only)"
    assert old.p_value < 1e-3  # the bug: it sees no test-set noise, only the tiny jitter


# compare() ------------------------------------------------------------------------------


def test_compare_uses_the_seed_example_test_when_examples_are_given() -> None:
    base, other = _rows(3, 200, 0.8, 6), _rows(3, 200, 0.9, 7)
    c = _compare_rows(base, other, [0, 1, 2])
    assert c.test == "seed × example t"
    assert c.reason is None
    assert c.p_value == seed_example_test(base, other).p_value
    assert c.difference == pytest.approx(sum(_means(other)) / 3 - sum(_means(base)) / 3)


def test_compare_aligns_examples_by_seed() -> None:
    base, other = _rows(4, 100, 0.8, 8), _rows(4, 100, 0.85, 9)
    aligned = _compare_rows(base, other, [0, 1, 2, 3])
    shuffled = compare(
        _means(base),
        [0, 1, 2, 3],
        _means(other)[::-1],
        [3, 2, 1, 0],
        base_examples=base,
        other_examples=other[::-1],
    )
    assert shuffled.p_value == pytest.approx(aligned.p_value, rel=1e-12)


def test_compare_without_usable_examples_falls_back_to_seeds_only() -> None:
    base, other = _rows(3, 100, 0.8, 10), _rows(3, 100, 0.9, 11)
    only_one = compare(_means(base), [0, 1, 2], _means(other), [0, 1, 2], base_examples=base)
    assert only_one.test == "paired t (seeds only)"
    assert only_one.p_value == pytest.approx(paired_t_test(_means(base), _means(other)))
    ragged = _compare_rows(base, other, [0, 1, 2], other_examples=[r[:50] for r in other])
    assert ragged.test == "paired t (seeds only)"
    infinite = [[*r[:-1], math.inf] for r in other]
    c = _compare_rows(base, other, [0, 1, 2], other_examples=infinite)
    assert c.test == "paired t (seeds only)"
    unpaired = _compare_rows(base, other, [0, 1, 2], other_seeds=[3, 4, 5])
    assert unpaired.test == "Welch t (seeds only)"


@pytest.mark.parametrize(
    ("base_seeds", "other_seeds", "test", "reason"),
    [
        ([0, 1], [0, 1], "paired t (seeds only)", "too few seeds (2 < 3)"),
        ([0, 1, 2], [3, 4], "Welch t (seeds only)", "too few seeds (2 < 3)"),
        ([0], [0], "paired t (seeds only)", "too few seeds (1 < 3)"),
    ],
)
def test_compare_makes_no_claim_from_too_few_seeds(
    base_seeds: list[int], other_seeds: list[int], test: str, reason: str
) -> None:
    base = [0.80 + 0.001 * s for s in base_seeds]
    other = [0.95 + 0.003 * s for s in other_seeds]
    c = compare(base, base_seeds, other, other_seeds)
    assert (c.test, c.reason) == (test, reason)
    assert math.isnan(c.p_value)
    assert not c.significant
    assert c.difference == pytest.approx(sum(other) / len(other) - sum(base) / len(base))
    assert MIN_SEEDS == 3


def test_compare_too_few_seeds_with_examples() -> None:
    base, other = _rows(2, 100, 0.5, 12), _rows(2, 100, 0.99, 13)
    c = _compare_rows(base, other, [0, 1])
    assert c == Comparison(c.difference, c.p_value, "seed × example t", "too few seeds (2 < 3)")
    assert math.isnan(c.p_value)


def test_compare_no_spread() -> None:
    c = compare([0.80, 0.81, 0.82], [0, 1, 2], [0.90, 0.91, 0.92], [0, 1, 2])
    assert math.isnan(c.p_value)
    assert (c.test, c.reason) == ("paired t (seeds only)", "no spread across seeds")
    assert not c.significant
    same = compare([0.80, 0.81, 0.82], [0, 1, 2], [0.82, 0.81, 0.80], [2, 1, 0])
    assert (same.p_value, same.reason) == (1.0, None)
    welch = compare([0.8, 0.8, 0.8], [0, 1, 2], [0.9, 0.9, 0.9], [3, 4, 5])
    assert math.isnan(welch.p_value)
    assert (welch.test, welch.reason) == ("Welch t (seeds only)", "no spread across seeds")
    rows = [[0.0, 1.0, 1.0]] * 3
    shifted = [[v + 0.5 for v in r] for r in rows]
    ex = compare(
        [2 / 3] * 3, [0, 1, 2], [7 / 6] * 3, [0, 1, 2], base_examples=rows, other_examples=shifted
    )
    assert math.isnan(ex.p_value)
    assert ex.reason == "no spread across seeds or examples"
