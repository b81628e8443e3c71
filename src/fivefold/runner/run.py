"""Run an experiment: plan trials, skip finished ones, execute, aggregate the scorecard."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fivefold.config import Experiment
from fivefold.models import prepare_task
from fivefold.pillars.base import Pillar
from fivefold.results.files import Trial, environment, read_result, write_json
from fivefold.results.scorecard import build_scorecard
from fivefold.runner.executors import run_local, run_pool
from fivefold.runner.trial import cached_task, model_spec, refit_pillars, trial_dir
from fivefold.techniques.base import check_task
from fivefold.training.hooks import EpochCallback

__all__ = [
    "RunSummary",
    "attach_refit_pillars",
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
    """Recipes × seeds (× the label fractions of pillars computed from refits), in config
    order."""
    wanted = {f for _, pillar in refit_pillars(exp) for f in pillar.refit_fractions()}
    fractions = tuple(sorted(wanted))
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
    attach_refit_pillars(exp, trials, ordered)
    scorecard = build_scorecard(exp.name, ordered)
    write_json(exp.output_dir / "scorecard.json", scorecard)
    failed = [r for r in ordered if r["status"] != "ok"]
    return RunSummary(ordered, len(done), scorecard, time.perf_counter() - start, failed)


def attach_refit_pillars(
    exp: Experiment, trials: list[Trial], results: list[dict[str, Any]]
) -> None:
    """Add each pillar computed from refit trials to every finished full trial."""
    pillars = refit_pillars(exp)
    if not pillars:
        return
    by_trial = dict(zip(trials, results, strict=True))
    for trial, result in by_trial.items():
        if trial.fraction < 1.0 or result["status"] != "ok":
            continue
        for name, pillar in pillars:
            scores = _refit_scores(pillar, trial, by_trial)
            result["pillars"][name] = pillar.from_refits(scores).to_json()
        write_json(trial_dir(exp, trial) / "result.json", result)


def _refit_scores(
    pillar: Pillar, trial: Trial, by_trial: dict[Trial, dict[str, Any]]
) -> dict[float, dict[str, Any]]:
    """Label fraction → core metrics of the full ``trial`` (1.0) and of its finished refits."""
    scores = {1.0: by_trial[trial]["metrics"]}
    for fraction in pillar.refit_fractions():
        refit = by_trial[Trial(trial.recipe, trial.seed, fraction)]
        if refit["status"] == "ok":
            scores[fraction] = refit["metrics"]
    return scores
