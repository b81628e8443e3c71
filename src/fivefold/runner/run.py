"""Run an experiment: plan trials, skip finished ones, execute, aggregate the scorecard."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fivefold.config import Experiment, inside
from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.models import prepare_task
from fivefold.pillars.base import Pillar
from fivefold.results.files import Trial, environment, read_result_checked, write_json
from fivefold.results.scorecard import build_scorecard
from fivefold.runner.executors import run_local, run_pool
from fivefold.runner.trial import cached_task, model_spec, refit_pillars, trial_dir
from fivefold.techniques.base import check_model, check_task
from fivefold.training.config import TrainConfig
from fivefold.training.fit import validation_note
from fivefold.training.hooks import EpochCallback

__all__ = [
    "RunSummary",
    "attach_refit_pillars",
    "plan_trials",
    "plan_warnings",
    "run_experiment",
    "validate_plan",
]


@dataclass
class RunSummary:
    """What a run did: every trial's result, how many were reused, the scorecard, and the
    invalid result files set aside (where each was moved, why it was unusable)."""

    results: list[dict[str, Any]]
    skipped: int
    scorecard: dict[str, Any]
    seconds: float
    failed: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[tuple[Path, str]] = field(default_factory=list)
    together: list[tuple[str, float, list[int], str | None]] = field(default_factory=list)
    """(recipe, label fraction, seeds, why they ran one by one or None) of each group of seeds
    tried together."""
    warnings: list[str] = field(default_factory=list)
    """Warnings about the plan (split sizes), before any trial ran."""


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


def validate_plan(exp: Experiment) -> list[str]:
    """Load the data and check the model and every recipe against it before any training.

    Splits too small to hold rows are rejected while the data loads; each technique checks
    the model it would adapt (:meth:`~fivefold.training.hooks.Technique.check_model`).

    Returns:
        warnings about splits too small for what they are used for (:func:`plan_warnings`).

    Raises:
        FivefoldError: the data cannot be loaded or a recipe cannot run on it.
    """
    task = cached_task(exp.data)
    spec = model_spec(exp, task)
    prepared = prepare_task(spec, task)
    for recipe, specs in exp.recipes.items():
        check_task(recipe, specs, prepared)
        check_model(recipe, specs, spec, prepared)
    return plan_warnings(task, exp.train)


SMALL_CLASS_ROWS = 5
"""A class with fewer training rows than this is too small to learn reliably."""

SMALL_TEST_ROWS = 100
"""Below this many test rows, one row moves accuracy by more than a point."""


def plan_warnings(task: Task, train: TrainConfig) -> list[str]:
    """Warnings about split sizes against the number of classes, before training.

    - the validation split too small to select an epoch on (:func:`validation_note`);
    - a class with fewer than :data:`SMALL_CLASS_ROWS` training rows;
    - a test split under :data:`SMALL_TEST_ROWS` rows, whose accuracy moves in large steps.
    """
    out: list[str] = []
    note = validation_note(train, len(task.val))
    if note:
        out.append(note)
    counts = torch.bincount(task.train.y[task.train.y >= 0], minlength=task.n_classes)
    fewest = int(counts.argmin())
    if int(counts[fewest]) < SMALL_CLASS_ROWS:
        name = task.class_names[fewest]
        out.append(
            f"small classes: the train split holds {len(task.train)} labelled rows for "
            f"{task.n_classes} classes, {int(counts[fewest])} of them {name!r}; a class with "
            f"fewer than {SMALL_CLASS_ROWS} rows is hard to learn, and scores on it are noisy"
        )
    n_test = len(task.test)
    if 0 < n_test < SMALL_TEST_ROWS:
        out.append(
            f"small test split: {n_test} rows, so one row moves accuracy by "
            f"{100 / n_test:.1f} points; the scorecard's tests count this noise, and a "
            "difference of a few points may well be chance"
        )
    return out


def _is_done(
    exp: Experiment, trial: Trial, set_aside: list[tuple[Path, str]]
) -> dict[str, Any] | None:
    """The finished result of ``trial`` with the current config hash, else None (re-run it).

    A file that is present but invalid is moved aside (never deleted) and noted in
    ``set_aside``, so that an edited or damaged result is recomputed, not trusted.
    """
    path = trial_dir(exp, trial) / "result.json"
    result, reason = read_result_checked(path)
    if reason is not None:
        set_aside.append((_set_aside(exp, trial, path), reason))
    if result is None or result["status"] != "ok":
        return None
    same = result.get("config_hash") == exp.trial_hash(trial.recipe, trial.seed, trial.fraction)
    return result if same else None


def _set_aside(exp: Experiment, trial: Trial, path: Path) -> Path:
    """Move an invalid ``result.json`` to ``<output>/set-aside/<trial>/result.json.invalid-<n>``
    (out of the trial folder, which the re-run clears) and return where it went."""
    folder = inside(exp.output_dir / "set-aside", *trial.key.split("/"))
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while (folder / f"result.json.invalid-{n}").exists():
        n += 1
    target = folder / f"result.json.invalid-{n}"
    os.replace(path, target)
    return target


def run_experiment(
    exp: Experiment,
    *,
    workers: int = 1,
    on_epoch: Callable[[Trial], EpochCallback] | None = None,
    on_trial: Callable[[Trial, dict[str, Any]], None] | None = None,
    together: bool = True,
    on_plan: Callable[[list[str]], None] | None = None,
) -> RunSummary:
    """Run every trial of ``exp`` that has no finished result with the same config hash.

    Writes ``<output>/trials/<recipe>/seed-<s>/result.json`` per trial and
    ``<output>/scorecard.json``; failed trials are recorded and re-run next time, and an
    invalid result file is set aside (``RunSummary.set_aside``) and its trial re-run. With
    one worker, the seeds of a recipe train together as one wide model where the recipe and
    model allow it (``together``); ``RunSummary.together`` says which did. ``on_plan``
    receives the plan's warnings (:func:`plan_warnings`) before any trial runs.
    """
    start = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers: expected a whole number of processes >= 1, got {workers!r}")
    warnings = validate_plan(exp)
    if on_plan:
        on_plan(warnings)
    trials = plan_trials(exp)
    set_aside: list[tuple[Path, str]] = []
    done = {t: r for t in trials if (r := _is_done(exp, t, set_aside)) is not None}
    todo = [t for t in trials if t not in done]
    env = environment()
    results = dict(done)
    groups: list[tuple[str, float, list[int], str | None]] = []

    def on_group(trials: list[Trial], why: str | None) -> None:
        groups.append((trials[0].recipe, trials[0].fraction, [t.seed for t in trials], why))

    if workers > 1:
        runs = run_pool(exp, todo, env, workers)
    else:
        runs = run_local(exp, todo, env, on_epoch, together=together, on_group=on_group)
    for trial, result in runs:
        results[trial] = result
        if on_trial:
            on_trial(trial, result)
    ordered = [results[t] for t in trials]
    attach_refit_pillars(exp, trials, ordered)
    scorecard = build_scorecard(exp.name, ordered)
    scorecard["warnings"] = warnings
    for entry in scorecard["recipes"].values():  # said once for the run, not per recipe
        entry["warnings"] = [w for w in entry["warnings"] if not any(p in w for p in warnings)]
    write_json(exp.output_dir / "scorecard.json", scorecard)
    failed = [r for r in ordered if r["status"] != "ok"]
    seconds = time.perf_counter() - start
    return RunSummary(ordered, len(done), scorecard, seconds, failed, set_aside, groups, warnings)


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
