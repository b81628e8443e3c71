"""Aggregate trial results into a scorecard (reads result dicts only; never imports torch).

Per recipe and metric: the values of the seeds, their mean, standard deviation and the
half-width of the 95 % Student-t interval; per non-baseline recipe and metric: the difference
from the baseline recipe and its test (:mod:`fivefold.results.stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fivefold.results.stats import compare, t_interval

__all__ = ["HEADLINE_METRICS", "baseline_recipe", "build_scorecard", "mean_std"]

HEADLINE_METRICS = ("test_accuracy", "test_macro_f1", "test_nll")
_LOWER_IS_BETTER = {"test_nll"}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _trial_metrics(result: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """Flat metric name → (value, higher_is_better) for one result."""
    out = {k: (float(v), k not in _LOWER_IS_BETTER) for k, v in result["metrics"].items()}
    for pillar, pres in result.get("pillars", {}).items():
        for name, metric in pres["metrics"].items():
            out[f"{pillar}.{name}"] = (float(metric["value"]), bool(metric["higher_is_better"]))
    return out


def build_scorecard(experiment: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per recipe: mean ± std over seeds of every metric, plus the failed trials."""
    recipes: dict[str, dict[str, Any]] = {}
    headlines: dict[str, str] = {}
    for result in results:
        recipe = result["trial"]["recipe"]
        entry = recipes.setdefault(
            recipe, {"n_ok": 0, "n_failed": 0, "values": {}, "seeds": {}, "warnings": {}}
        )
        if result["status"] != "ok" or result["trial"]["fraction"] < 1.0:
            entry["n_failed"] += result["status"] != "ok"
            continue
        entry["n_ok"] += 1
        examples = result.get("test_examples")
        if isinstance(examples, dict):
            entry.setdefault("examples", {})[result["trial"]["seed"]] = examples
        for line in result.get("warnings", []):
            kind = line.split(":", 1)[0]
            entry["warnings"].setdefault(kind, []).append((result["trial"]["seed"], line))
        for name, (value, higher) in _trial_metrics(result).items():
            entry["values"].setdefault(name, ([], higher))[0].append(value)
            entry["seeds"].setdefault(name, []).append(result["trial"]["seed"])
        for pillar, pres in result.get("pillars", {}).items():
            headlines[pillar] = f"{pillar}.{pres['headline']}"
    summary = {name: _summarise(entry) for name, entry in recipes.items()}
    baseline = baseline_recipe(results)
    if baseline is not None and baseline in summary:
        examples = {name: entry.get("examples", {}) for name, entry in recipes.items()}
        _add_comparisons(summary, baseline, examples)
    return {
        "experiment": experiment,
        "headlines": [*HEADLINE_METRICS, *headlines.values()],
        "baseline": baseline,
        "recipes": summary,
        "failed": [
            {"trial": r["trial"]["key"], "error": r["error"]}
            for r in results
            if r["status"] != "ok"
        ],
    }


def _summarise(entry: dict[str, Any]) -> dict[str, Any]:
    metrics = {}
    for name, (values, higher) in entry["values"].items():
        mean, std = mean_std(values)
        metrics[name] = {
            "mean": mean,
            "std": std,
            "n": len(values),
            "values": values,
            "seeds": entry["seeds"][name],
            "ci95": _finite(t_interval(values)),
            "higher_is_better": higher,
        }
    return {
        "n_ok": entry["n_ok"],
        "n_failed": entry["n_failed"],
        "metrics": metrics,
        "warnings": [_warning_line(found) for found in entry["warnings"].values()],
    }


def _warning_line(found: list[tuple[int, str]]) -> str:
    """One line per kind of warning: the seeds it concerns and the first seed's message."""
    seeds = sorted({seed for seed, _ in found})
    first_seed, message = min(found)
    which = "seed" if len(seeds) == 1 else "seeds"
    same = len({m for _, m in found}) == 1
    example = "" if same else f" (seed {first_seed})"
    return f"{which} {', '.join(map(str, seeds))}: {message}{example}"


def baseline_recipe(results: Sequence[dict[str, Any]]) -> str | None:
    """The recipe the others are compared with: the one named "baseline", else the first
    recipe with no technique, else None."""
    recipes = {r["trial"]["recipe"]: r.get("config", {}).get("recipe") for r in results}
    if "baseline" in recipes:
        return "baseline"
    return next((name for name, techniques in recipes.items() if techniques == []), None)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


EXAMPLE_SCORES = {
    "test_accuracy": "correct",
    "generalization.test_accuracy": "correct",
    "test_nll": "nll",
}
"""Metrics that are means over test rows, and the per-row score in ``test_examples`` whose
mean they are: their tests count the test set's sampling noise as well as the seeds'."""


def _per_example(
    examples: dict[int, dict[str, Any]], seeds: Sequence[int], metric: str
) -> list[list[float]] | None:
    """Per seed (in ``seeds`` order) the per-row scores of ``metric``; None when a seed lacks
    them or the rows differ in number."""
    key = EXAMPLE_SCORES.get(metric)
    if key is None or any(s not in examples or key not in examples[s] for s in seeds):
        return None
    rows: list[list[float]] = []
    for s in seeds:
        raw = examples[s][key]
        values = [float(c == "1") for c in raw] if isinstance(raw, str) else [float(v) for v in raw]
        rows.append(values)
    return rows if len({len(r) for r in rows}) == 1 else None


def _add_comparisons(
    summary: dict[str, Any], baseline: str, examples: dict[str, dict[int, dict[str, Any]]]
) -> None:
    """Add ``vs_baseline`` (difference, p-value, test, significant, and why untested) to every
    other recipe's metrics that the baseline also has."""
    base = summary[baseline]["metrics"]
    for recipe, entry in summary.items():
        if recipe == baseline:
            continue
        for name, m in entry["metrics"].items():
            if name not in base:
                continue
            b = base[name]
            c = compare(
                b["values"],
                b["seeds"],
                m["values"],
                m["seeds"],
                base_examples=_per_example(examples[baseline], b["seeds"], name),
                other_examples=_per_example(examples[recipe], m["seeds"], name),
            )
            m["vs_baseline"] = {
                "difference": c.difference,
                "p_value": _finite(c.p_value),
                "test": c.test,
                "significant": c.significant,
                "reason": c.reason,
            }
