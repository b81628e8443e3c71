"""The scorecard's trust: per-example tests from ``test_examples``, grouped warnings."""

from __future__ import annotations

import random
from typing import Any

from fivefold.results.files import validate_result
from fivefold.results.scorecard import build_scorecard


def _result(recipe: str, seed: int, correct: list[int], warnings: list[str]) -> dict[str, Any]:
    acc = sum(correct) / len(correct)
    return {
        "schema_version": 1,
        "experiment": "t",
        "trial": {"recipe": recipe, "seed": seed, "fraction": 1.0, "key": f"{recipe}/{seed}"},
        "config": {"recipe": [] if recipe == "baseline" else [{"technique": "augment"}]},
        "status": "ok",
        "error": None,
        "timings": {},
        "metrics": {"test_accuracy": acc, "test_nll": 0.5},
        "warnings": warnings,
        "test_examples": {
            "correct": "".join(map(str, correct)),
            "nll": [0.1 if c else 2.0 for c in correct],
        },
        "pillars": {},
    }


def _rows(n: int, accuracy: float, rng: random.Random) -> list[int]:
    return [int(rng.random() < accuracy) for _ in range(n)]


def test_a_reproducible_small_change_is_tested_against_test_set_noise() -> None:
    """The issue's case: a 0.3-point change identical in every seed on 300 rows. A t-test
    over seeds calls it certain (zero spread); the seed × example test does not."""
    rng = random.Random(0)
    base = _rows(300, 0.8, rng)
    other = list(base)
    flipped = [i for i, c in enumerate(base) if c == 0][:1]
    for i in flipped:
        other[i] = 1  # one more row right: +0.33 points, the same in every seed
    results = [_result("baseline", s, base, []) for s in range(3)]
    results += [_result("augment", s, other, []) for s in range(3)]
    for r in results:
        assert validate_result(r) is None
    card = build_scorecard("t", results)
    vs = card["recipes"]["augment"]["metrics"]["test_accuracy"]["vs_baseline"]
    assert vs["test"] == "seed × example t"
    assert abs(vs["difference"] - 1 / 300) < 1e-12
    assert vs["p_value"] > 0.3 and not vs["significant"]


def test_two_seeds_make_no_claim() -> None:
    rng = random.Random(1)
    results = [_result("baseline", s, _rows(200, 0.5, rng), []) for s in range(2)]
    results += [_result("augment", s, _rows(200, 0.95, rng), []) for s in range(2)]
    vs = build_scorecard("t", results)["recipes"]["augment"]["metrics"]["test_accuracy"]
    assert vs["vs_baseline"]["p_value"] is None
    assert vs["vs_baseline"]["reason"] == "too few seeds (2 < 3)"
    assert not vs["vs_baseline"]["significant"]


def test_a_large_gain_on_enough_rows_is_significant() -> None:
    rng = random.Random(2)
    results = [_result("baseline", s, _rows(500, 0.7, rng), []) for s in range(3)]
    results += [_result("augment", s, _rows(500, 0.85, rng), []) for s in range(3)]
    vs = build_scorecard("t", results)["recipes"]["augment"]["metrics"]["test_accuracy"]
    assert vs["vs_baseline"]["significant"] and vs["vs_baseline"]["p_value"] < 0.05


def test_warnings_are_grouped_by_kind_over_seeds() -> None:
    rng = random.Random(3)
    rows = _rows(50, 0.5, rng)
    results = [
        _result("baseline", 0, rows, ["collapsed: predicts 'a' for 99% of rows"]),
        _result("baseline", 1, rows, ["collapsed: predicts 'a' for 97% of rows"]),
        _result("baseline", 2, rows, []),
    ]
    card = build_scorecard("t", results)
    assert card["recipes"]["baseline"]["warnings"] == [
        "seeds 0, 1: collapsed: predicts 'a' for 99% of rows (seed 0)"
    ]


def test_malformed_test_examples_are_rejected() -> None:
    good = _result("baseline", 0, [1, 0, 1], [])
    bad = {**good, "test_examples": {"correct": "10x", "nll": [0.1, 0.2, 0.3]}}
    assert validate_result(bad) is not None
    short = {**good, "test_examples": {"correct": "101", "nll": [0.1]}}
    assert validate_result(short) is not None
    assert validate_result({**good, "warnings": [3]}) == "warnings should be a list of strings"
