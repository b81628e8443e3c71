"""The seeds of one recipe trained together as one wide model, then scored one by one.

Each seed keeps everything a trial of its own has: its folder, the model built after
``seed_everything(seed)``, its data order, its dropout stream (the global stream right after the
build), its epoch log, checkpoint and ``result.json``; before it is scored, the global stream
is put where its own trial would have left it. The metrics therefore equal those of the seeds
trained apart, up to float rounding of the batched kernels.

Seeds train together when the recipe's techniques leave the training step to the plain loop
(none, or ``batch_only`` ones such as augmentation) and the model is a stackable ``mlp`` or
``cnn``; otherwise :func:`run_seeds_together` says why and the caller runs them one by one.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import torch
from torch import nn

from fivefold.config import Experiment
from fivefold.data.task import Task
from fivefold.errors import FivefoldError
from fivefold.results.files import Trial, write_json
from fivefold.runner.trial import _evaluate, _prepare, _Prepared, _result_header, fresh_trial_dir
from fivefold.seeding import seed_everything
from fivefold.techniques.base import TECHNIQUES
from fivefold.training.fit import compose_fit
from fivefold.training.hooks import EpochCallback, FitContext, FitResult, Technique
from fivefold.training.together import fit_together, member_stream, why_not_together

__all__ = ["recipe_blocker", "run_seeds_together"]

Results = list[tuple[Trial, dict[str, Any]]]


def recipe_blocker(exp: Experiment, recipe: str) -> str | None:
    """Why the seeds of ``recipe`` cannot train together, from the recipe alone (None: they
    may, if the model is stackable)."""
    for spec in exp.recipes[recipe]:
        kind = TECHNIQUES.get(spec.name)
        plain = all(
            getattr(kind, hook) is getattr(Technique, hook)
            for hook in ("wrap_fit", "adapt_model", "adapt_batch", "loss")
        )
        if not (plain or kind.batch_only) or kind.owns_loss:
            return f"technique {spec.name!r} changes how each seed trains"
    return None


class _Reached(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the innermost fit of a wrap chain: the chain got ready to train."""

    def __init__(self, model: nn.Module, task: Task, ctx: FitContext) -> None:
        super().__init__("reached the inner fit")
        self.model, self.task, self.ctx = model, task, ctx


def _reach(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
    raise _Reached(model, task, ctx)


def _ready(prepared: _Prepared) -> _Reached:
    """Run the recipe's ``wrap_fit`` layers up to the inner fit (a ``batch_only`` technique's
    layer only reads the task before it calls the inner fit, and returns its result as is)."""
    try:
        compose_fit(prepared.techniques, _reach)(prepared.model, prepared.task, prepared.ctx)
    except _Reached as reached:
        return reached
    raise RuntimeError("the recipe's fit returned without training")


def run_seeds_together(
    exp: Experiment,
    trials: Sequence[Trial],
    env: dict[str, Any],
    on_epoch: dict[Trial, EpochCallback | None] | None = None,
) -> tuple[Results, str | None]:
    """Train ``trials`` (one recipe and label fraction, several seeds) together, then score
    and write each.

    Returns:
        (each trial with its result, None), or ([], why) when they cannot train together, in
        which case nothing has been trained and the caller runs them one by one.
    """
    if len(trials) < 2:
        return [], "a single seed"
    if len({(t.recipe, t.fraction) for t in trials}) > 1:
        return [], "the trials are of different recipes or label fractions"
    blocker = recipe_blocker(exp, trials[0].recipe)
    if blocker is not None:
        return [], blocker
    headers, prepared, ready, streams = [], [], [], []
    for trial in trials:
        workdir = fresh_trial_dir(exp, trial)
        headers.append(_result_header(exp, trial, env))
        callback = on_epoch.get(trial) if on_epoch else None
        prep = _prepare(exp, trial, workdir, callback)
        streams.append(member_stream())  # the global stream right after this seed's build
        prepared.append(prep)
        ready.append(_ready(prep))
    models = [r.model for r in ready]
    ctxs = [r.ctx for r in ready]
    tasks = {id(r.task) for r in ready}
    reason = "the seeds' techniques hand the fit different data" if len(tasks) > 1 else None
    reason = reason or why_not_together(models, ctxs)
    if reason is not None:
        return [], reason
    t1 = time.perf_counter()
    try:
        fitted = fit_together(models, ready[0].task, ctxs, streams)
    except (FivefoldError, RuntimeError, ValueError) as err:
        return [], f"training them together failed ({type(err).__name__}: {err})"
    shared = time.perf_counter() - t1
    out: Results = []
    for k, trial in enumerate(trials):
        result = headers[k]
        seed_everything(trial.seed)
        torch.set_rng_state(streams[k].get_state())  # where its own trial's training left it
        t_eval = time.perf_counter()
        try:
            result.update(_evaluate(exp, trial, prepared[k], fitted[k], shared / len(trials)))
            result["timings"]["train_shared_s"] = shared
            result["status"] = "ok"
        except FivefoldError as err:
            result["status"] = "failed"
            result["error"] = {"type": type(err).__name__, "message": str(err)}
        except Exception as err:  # a bug or a library failure: record it, keep the run going
            result["status"] = "failed"
            result["error"] = {
                "type": type(err).__name__,
                "message": str(err).splitlines()[0] if str(err) else type(err).__name__,
                "traceback": traceback.format_exc(),
            }
        setup = prepared[k].setup_s
        result["timings"]["total_s"] = setup + shared / len(trials) + time.perf_counter() - t_eval
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        folder = prepared[k].ctx.workdir
        assert folder is not None
        write_json(folder / "result.json", result)
        out.append((trial, result))
    return out, None
