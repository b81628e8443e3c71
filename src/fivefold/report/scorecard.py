"""Aggregate trial results into a scorecard (reads result dicts only; never imports torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["HEADLINE_METRICS", "build_scorecard", "mean_std"]

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
        entry = recipes.setdefault(recipe, {"n_ok": 0, "n_failed": 0, "values": {}})
        if result["status"] != "ok" or result["trial"]["fraction"] < 1.0:
            entry["n_failed"] += result["status"] != "ok"
            continue
        entry["n_ok"] += 1
        for name, (value, higher) in _trial_metrics(result).items():
            entry["values"].setdefault(name, ([], higher))[0].append(value)
        for pillar, pres in result.get("pillars", {}).items():
            headlines[pillar] = f"{pillar}.{pres['headline']}"
    return {
        "experiment": experiment,
        "headlines": [*HEADLINE_METRICS, *headlines.values()],
        "recipes": {name: _summarise(entry) for name, entry in recipes.items()},
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
            "higher_is_better": higher,
        }
    return {"n_ok": entry["n_ok"], "n_failed": entry["n_failed"], "metrics": metrics}
