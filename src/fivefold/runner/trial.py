"""Run one trial: build the model, apply the recipe, fit, evaluate, write ``result.json``."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fivefold.config import Experiment, inside
from fivefold.data import load_task
from fivefold.data.config import DataConfig
from fivefold.data.task import Task
from fivefold.errors import ConfigError, FivefoldError
from fivefold.models import MODELS, build_model, default_model_name, prepare_task
from fivefold.models.base import ModelSpec
from fivefold.pillars.base import Pillar, PillarSpec, Subject
from fivefold.results.files import SCHEMA_VERSION, Trial, environment, write_json
from fivefold.runner.metrics import CoreScores, core_metrics, members_summary
from fivefold.schema import to_dict
from fivefold.seeding import seed_everything
from fivefold.techniques.base import check_task
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit, validation_note
from fivefold.training.hooks import (
    EpochCallback,
    FitContext,
    FitResult,
    Technique,
    compose_subject,
)

__all__ = [
    "TRIAL_MARKER",
    "cached_task",
    "fresh_trial_dir",
    "model_spec",
    "refit_pillars",
    "run_trial",
    "score_subject",
    "trial_dir",
]


TRIAL_MARKER = ".fivefold-trial"


def trial_dir(exp: Experiment, trial: Trial) -> Path:
    """Folder of one trial's files, checked to stay inside ``<output>/trials``.

    Raises:
        ConfigError: the folder would resolve outside ``<output>/trials``.
    """
    return inside(exp.output_dir / "trials", *trial.key.split("/"))


def fresh_trial_dir(exp: Experiment, trial: Trial) -> Path:
    """An empty folder for ``trial`` carrying :data:`TRIAL_MARKER`; an old one is replaced.

    Only a folder fivefold made (it holds the marker) is removed; an empty one is adopted.

    Raises:
        ConfigError: the folder is a symlink, or is not empty and has no marker; it is left
            untouched.
    """
    workdir = trial_dir(exp, trial)
    if workdir.is_symlink() or (workdir.exists() and not _is_ours(workdir)):
        raise ConfigError(
            f"{workdir} was not made by fivefold (a link, or a folder without {TRIAL_MARKER}), so "
            "it was left untouched: move it away or choose another output folder with --out"
        )
    if workdir.is_dir() and any(workdir.iterdir()):
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / TRIAL_MARKER).write_text("made by fivefold; this folder is replaced on re-runs\n")
    return workdir


def _is_ours(workdir: Path) -> bool:
    """Whether ``workdir`` holds the marker, is an empty folder (an interrupted start), or holds
    only plain files that a trial writes (a run made before trial folders were marked)."""
    if not workdir.is_dir():
        return False
    if (workdir / TRIAL_MARKER).is_file():
        return True
    entries = list(workdir.iterdir())
    return all(e.is_file() and not e.is_symlink() and _trial_file(e.name) for e in entries)


def _trial_file(name: str) -> bool:
    """A file name that only fivefold's trial writes: result, epoch log, checkpoint, temp files."""
    known = ("result.json", "history.jsonl", "model.safetensors")
    return name in known or (name.startswith(".result.json.") and name.endswith(".tmp"))


@functools.lru_cache(maxsize=4)
def cached_task(data: DataConfig) -> Task:
    """Load a task once per process (trials of one experiment share it)."""
    return load_task(data)


def model_spec(exp: Experiment, task: Task) -> ModelSpec:
    """The experiment's model, or the default model for the task's modality."""
    if exp.model is not None:
        return exp.model
    return MODELS.spec_of(default_model_name(task), {}, "model")


def run_trial(
    exp: Experiment,
    trial: Trial,
    *,
    env: dict[str, Any] | None = None,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Run ``trial`` and write its ``result.json``; failures are recorded, never raised.

    Raises:
        ConfigError: the trial folder cannot be used (see :func:`fresh_trial_dir`); nothing is
            trained or written then.
    """
    workdir = fresh_trial_dir(exp, trial)
    result = _result_header(exp, trial, env)
    start = time.perf_counter()
    try:
        result.update(_train_and_evaluate(exp, trial, workdir, on_epoch))
        result["status"] = "ok"
    except FivefoldError as err:
        result["status"], result["error"] = (
            "failed",
            {"type": type(err).__name__, "message": str(err)},
        )
    except Exception as err:  # a bug or a library failure: record it, keep the run going
        result["status"] = "failed"
        result["error"] = {
            "type": type(err).__name__,
            "message": str(err).splitlines()[0] if str(err) else type(err).__name__,
            "traceback": traceback.format_exc(),
        }
    result["timings"]["total_s"] = time.perf_counter() - start
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_json(workdir / "result.json", result)
    return result


def _result_header(exp: Experiment, trial: Trial, env: dict[str, Any] | None) -> dict[str, Any]:
    full = exp.to_dict()
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": exp.name,
        "trial": {**dataclasses.asdict(trial), "key": trial.key},
        "config_hash": exp.trial_hash(trial.recipe, trial.seed, trial.fraction),
        "config": {
            "data": full["data"],
            "model": full.get("model"),
            "train": full["train"],
            "recipe": full["recipes"][trial.recipe],
            "pillars": full["pillars"],
        },
        "status": "running",
        "error": None,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {},
        "environment": env if env is not None else environment(),
        "metrics": {},
        "pillars": {},
    }


@dataclasses.dataclass
class _Prepared:
    """A trial up to its fit: the task as the model sees it, the recipe, the built model."""

    spec: ModelSpec
    task: Task
    techniques: list[Technique]
    model: nn.Module
    ctx: FitContext
    setup_s: float


def _prepare(
    exp: Experiment, trial: Trial, workdir: Path, on_epoch: EpochCallback | None
) -> _Prepared:
    t0 = time.perf_counter()
    data, train_cfg = exp.data, exp.train
    if trial.fraction < 1.0:
        data = dataclasses.replace(data, label_fraction=data.label_fraction * trial.fraction)
        train_cfg = _refit_training(exp, trial.fraction)
    spec = model_spec(exp, cached_task(data))
    task = prepare_task(spec, cached_task(data))
    techniques = [s.instantiate() for s in exp.recipes[trial.recipe]]
    check_task(trial.recipe, exp.recipes[trial.recipe], task)
    seed_everything(trial.seed)
    model = build_model(spec, task)
    ctx = FitContext(train_cfg, trial.seed, techniques, workdir, on_epoch)
    ctx.build_model = functools.partial(_fresh_model, spec, task)
    ctx.cache_dir = inside(exp.output_dir, "cache")
    ctx.cache_key = exp.pool_key({"name": spec.name, **to_dict(spec.config)})
    return _Prepared(spec, task, techniques, model, ctx, time.perf_counter() - t0)


def _train_and_evaluate(
    exp: Experiment, trial: Trial, workdir: Path, on_epoch: EpochCallback | None
) -> dict[str, Any]:
    prepared = _prepare(exp, trial, workdir, on_epoch)
    t1 = time.perf_counter()
    fitted = compose_fit(prepared.techniques, fit)(prepared.model, prepared.task, prepared.ctx)
    return _evaluate(exp, trial, prepared, fitted, time.perf_counter() - t1)


def _evaluate(
    exp: Experiment, trial: Trial, prepared: _Prepared, fitted: FitResult, train_s: float
) -> dict[str, Any]:
    t2 = time.perf_counter()
    task, techniques = prepared.task, prepared.techniques
    subject = Subject(fitted.model, eval_batch_size=exp.train.eval_batch_size)
    subject = compose_subject(techniques, subject, task, prepared.ctx)
    specs = exp.pillars if trial.fraction >= 1.0 else ()
    core, pillars = score_subject(subject, task, specs, trial.seed)
    note = validation_note(prepared.ctx.train, len(task.val))
    out: dict[str, Any] = {
        "model": {"name": prepared.spec.name, **param_counts(subject)},
        "training": _training_summary(fitted),
        # adapt_subject reports into the context after fit returned its own copy of extras
        "techniques": {**prepared.ctx.extras, **fitted.extras},
        "task": {
            "classes": list(task.class_names),
            "rows": {name: len(split) for name, split in task.splits.items()},
        },
        "metrics": core.metrics,
        "warnings": [*([note] if note else []), *core.warnings],
        "checks": core.checks,
        "test_examples": core.examples,
        "pillars": pillars,
        "timings": {
            "setup_s": prepared.setup_s,
            "train_s": train_s,
            "evaluate_s": time.perf_counter() - t2,
        },
    }
    if len(subject.members) > 1:
        out["members"] = members_summary(subject, task)
    _add_technique_metrics(out["techniques"], pillars)
    return out


def _add_technique_metrics(techniques: dict[str, Any], pillars: dict[str, Any]) -> None:
    """Metrics a technique measured while training (e.g. continual learning's forgetting),
    added to the pillars they belong to, where those pillars ran."""
    for report in techniques.values():
        if not isinstance(report, dict):
            continue
        for pillar, metrics in report.get("pillar_metrics", {}).items():
            if pillar in pillars:
                pillars[pillar]["metrics"].update(metrics)


def score_subject(
    subject: Subject,
    task: Task,
    specs: Sequence[PillarSpec],
    seed: int,
    *,
    classes_option: str = "data.classes",
) -> tuple[CoreScores, dict[str, Any]]:
    """The core metrics (with their trust warnings) and the result JSON of every pillar in
    ``specs`` scoring one model (``classes_option``: how the user sets the class order).

    Each starts from the subject as ``adapt_subject`` handed it over (``reset()`` first), so a
    subject that adapts while evaluated gives every pillar the same start, whatever the order.
    Pillars computed from refit trials are left out (see :func:`refit_pillars`).
    """
    subject.reset()
    core = core_metrics(subject, task, classes_option=classes_option)
    pillars = {}
    for spec in specs:
        pillar = spec.instantiate()
        if not pillar.needs_refits:
            subject.reset()
            pillars[spec.name] = pillar.evaluate(subject, task, seed).to_json()
    return core, pillars


def refit_pillars(exp: Experiment) -> list[tuple[str, Pillar]]:
    """(name, pillar) of every pillar computed from refit trials (``needs_refits``)."""
    return [(spec.name, spec.instantiate()) for spec in exp.pillars if spec.plugin.needs_refits]


def _fresh_model(spec: ModelSpec, task: Task, seed: int) -> nn.Module:
    """A new model of the trial's architecture initialised from ``seed`` (for ensemble members).

    The global RNG is forked, so building a member never moves the trial's own random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec, task)


def _refit_training(exp: Experiment, fraction: float) -> TrainConfig:
    """Training settings of a label-fraction refit: epochs from the first pillar that plans it."""
    epochs = exp.train.epochs
    if epochs == "auto":  # resolved on the refit's own rows: at least as many steps
        return exp.train
    planner = next((p for _, p in refit_pillars(exp) if fraction in p.refit_fractions()), None)
    if planner is not None:
        epochs = planner.refit_epochs(epochs, fraction)
    return dataclasses.replace(exp.train, epochs=epochs)


def param_counts(subject: Subject) -> dict[str, Any]:
    """Parameters of the model the pillars score, and of each member when there are several."""
    per_member = [list(m.parameters()) for m in subject.members]
    params = [p for ps in per_member for p in ps]
    counts: dict[str, Any] = {
        "params_total": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in params if p.requires_grad),
    }
    if len(per_member) > 1:
        counts["members"] = len(per_member)
        counts["params_per_member"] = [sum(p.numel() for p in ps) for ps in per_member]
        counts["combiner"] = subject.combiner.kind
    return counts


def _training_summary(fitted: FitResult) -> dict[str, Any]:
    return {
        "epochs_run": len(fitted.history),
        "best_epoch": fitted.best_epoch,
        "stopped_early": fitted.stopped_early,
        "train_seconds": fitted.train_seconds,
        "trained_together": int(fitted.extras.get("trained_together", 1)),
        "final": fitted.history[-1] if fitted.history else {},
    }
