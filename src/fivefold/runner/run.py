"""Run an experiment: plan trials, skip finished ones, execute, aggregate the scorecard."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fivefold.config import Experiment
from fivefold.models import prepare_task
from fivefold.pillars.data_efficiency import efficiency_result
from fivefold.results.files import Trial, environment, read_result, write_json
from fivefold.results.scorecard import build_scorecard
from fivefold.runner.executors import run_local, run_pool
from fivefold.runner.trial import cached_task, model_spec, trial_dir
from fivefold.techniques.base import check_task
from fivefold.training.hooks import EpochCallback

__all__ = [
    "RunSummary",
    "attach_data_efficiency",
    "plan_trials",
    "run_experiment",
    "validate_plan",
]


@dataclass
class RunSummary:
    """What a run did: every trial's result, how many were reused, the scorecard."""

    results: list[dict[str, Any]]
    skipped: int
    scorecard: dict[str, Any]
    seconds: float
    failed: list[dict[str, Any]] = field(default_factory=list)


def plan_trials(exp: Experiment) -> list[Trial]:
    """Recipes × seeds (× label fractions when data efficiency is evaluated), in config order."""
    fractions: tuple[float, ...] = ()
    for spec in exp.pillars:
        if spec.name == "data_efficiency":
            fractions = spec.config.refit_fractions
    return [
        Trial(recipe, seed, fraction)
        for recipe in exp.recipes
        for fraction in (1.0, *fractions)
        for seed in exp.seeds
    ]


def validate_plan(exp: Experiment) -> None:
    """Load the data and check the model and every recipe against it before any training.

    Raises:
        FivefoldError: the data cannot be loaded or a recipe cannot run on it.
    """
    task = cached_task(exp.data)
    spec = model_spec(exp, task)
    prepared = prepare_task(spec, task)
    for recipe, specs in exp.recipes.items():
        check_task(recipe, specs, prepared)


def _is_done(exp: Experiment, trial: Trial) -> dict[str, Any] | None:
    result = read_result(trial_dir(exp, trial) / "result.json")
    if result is None or result.get("status") != "ok":
        return None
    same = result.get("config_hash") == exp.trial_hash(trial.recipe, trial.seed, trial.fraction)
    return result if same else None


def run_experiment(
    exp: Experiment,
    *,
    workers: int = 1,
    on_epoch: Callable[[Trial], EpochCallback] | None = None,
    on_trial: Callable[[Trial, dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Run every trial of ``exp`` that has no finished result with the same config hash.

    Writes ``<output>/trials/<recipe>/seed-<s>/result.json`` per trial and
    ``<output>/scorecard.json``; failed trials are recorded and re-run next time.
    """
    start = time.perf_counter()
    validate_plan(exp)
    trials = plan_trials(exp)
    done = {t: r for t in trials if (r := _is_done(exp, t)) is not None}
    todo = [t for t in trials if t not in done]
    env = environment()
    results = dict(done)
    runs = run_pool(exp, todo, env, workers) if workers > 1 else run_local(exp, todo, env, on_epoch)
    for trial, result in runs:
        results[trial] = result
        if on_trial:
            on_trial(trial, result)
    ordered = [results[t] for t in trials]
    attach_data_efficiency(exp, trials, ordered)
    scorecard = build_scorecard(exp.name, ordered)
    write_json(exp.output_dir / "scorecard.json", scorecard)
    failed = [r for r in ordered if r["status"] != "ok"]
    return RunSummary(ordered, len(done), scorecard, time.perf_counter() - start, failed)


def attach_data_efficiency(
    exp: Experiment, trials: list[Trial], results: list[dict[str, Any]]
) -> None:
    """Add the data-efficiency pillar, computed from the refit trials, to each full trial."""
    spec = next((p for p in exp.pillars if p.name == "data_efficiency"), None)
    if spec is None:
        return
    by_trial = dict(zip(trials, results, strict=True))
    for trial, result in by_trial.items():
        if trial.fraction < 1.0 or result["status"] != "ok":
            continue
        curve = {1.0: result["metrics"]["test_accuracy"]}
        for fraction in spec.config.refit_fractions:
            refit = by_trial[Trial(trial.recipe, trial.seed, fraction)]
            if refit["status"] == "ok":
                curve[fraction] = refit["metrics"]["test_accuracy"]
        pillar = efficiency_result(curve, spec.config.target)
        if len(curve) <= len(spec.config.refit_fractions):
            pillar.notes.append("some label-fraction refits failed; the curve is partial")
        result["pillars"]["data_efficiency"] = pillar.to_json()
        write_json(trial_dir(exp, trial) / "result.json", result)
