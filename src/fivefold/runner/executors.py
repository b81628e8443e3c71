"""Executors run trials: one after another here, or in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch

from fivefold.config import Experiment
from fivefold.results.files import Trial
from fivefold.runner.together import run_seeds_together
from fivefold.runner.trial import run_trial
from fivefold.training.hooks import EpochCallback

__all__ = ["run_local", "run_pool", "threads_per_worker"]

ResultIter = Iterator[tuple[Trial, dict[str, Any]]]


def threads_per_worker(workers: int, requested: int | None = None) -> int:
    """Torch threads per process: all cores shared evenly (a busy core slows 2-thread torch
    to a crawl, so workers never oversubscribe)."""
    return requested or max(1, (os.cpu_count() or 1) // workers)


def run_local(
    exp: Experiment,
    trials: Sequence[Trial],
    env: dict[str, Any],
    on_epoch: Callable[[Trial], EpochCallback] | None = None,
    *,
    together: bool = False,
    on_group: Callable[[list[Trial], str | None], None] | None = None,
) -> ResultIter:
    """Run trials in this process (torch's thread setting is kept unless ``train.threads`` is
    given): the seeds of one recipe and label fraction together as one wide model where they
    can (``together``), else one after another.

    Args:
        on_group: told of every group of seeds tried together, with why they ran one by one
            (None: they trained together).
    """
    if exp.train.threads is not None:
        torch.set_num_threads(exp.train.threads)
    groups: dict[tuple[str, float], list[Trial]] = {}
    for trial in trials:
        groups.setdefault((trial.recipe, trial.fraction), []).append(trial)
    for group in groups.values():
        if together and len(group) > 1:
            callbacks = {t: on_epoch(t) if on_epoch else None for t in group}
            results, why = run_seeds_together(exp, group, env, callbacks)
            if on_group:
                on_group(group, why)
            if why is None:
                yield from results
                continue
        for trial in group:
            callback = on_epoch(trial) if on_epoch else None
            yield trial, run_trial(exp, trial, env=env, on_epoch=callback)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_in_worker(exp: Experiment, trial: Trial, env: dict[str, Any]) -> dict[str, Any]:
    return run_trial(exp, trial, env={**env, "torch_threads": torch.get_num_threads()})


def run_pool(
    exp: Experiment, trials: Sequence[Trial], env: dict[str, Any], workers: int
) -> ResultIter:
    """Run trials in ``workers`` spawned processes; yields results as they finish."""
    threads = threads_per_worker(workers, exp.train.threads)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _init_worker, (threads,)) as pool:
        futures = {pool.submit(_run_in_worker, exp, t, env): t for t in trials}
        for future in as_completed(futures):
            yield futures[future], future.result()
