"""``fivefold audit``: score a model the user already has on every pillar but data efficiency.

The model comes from a factory ``package.module:callable`` (called with the task if it takes an
argument, else with none) and its weights from a safetensors file (or a ``torch.save`` state
dict read with ``weights_only=True``) — never from an arbitrary pickle. An ensemble checkpoint
(``files/model.safetensors`` of an ``ensemble`` trial: every member under ``member-<k>.``, the
combiner under ``combiner.``) is audited as the ensemble: the factory builds each member.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fivefold.data import DataConfig, Task, load_evaluation_task
from fivefold.errors import ConfigError, UserCodeError, did_you_mean, first_line
from fivefold.pillars import PILLARS, PillarSpec, Subject
from fivefold.results.files import SCHEMA_VERSION, environment, write_json
from fivefold.results.scorecard import build_scorecard
from fivefold.runner.metrics import members_summary
from fivefold.runner.trial import param_counts, score_subject
from fivefold.schema import build, check_seed, to_dict
from fivefold.training.checkpoint import is_member_checkpoint, load_members, load_weights
from fivefold.training.combiners import Combiner
from fivefold.training.config import TrainConfig
from fivefold.training.hooks import FitContext, Technique, compose_subject
from fivefold.training.predict import predict_logits

__all__ = ["AuditRequest", "audit_subject", "data_config_for", "load_factory", "run_audit"]

_FILE_KINDS = {".csv": "csv", ".parquet": "parquet", ".npz": "npz", ".jsonl": "jsonl"}


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: the model factory, its weights, the data, the pillars and where to write."""

    model: str
    weights: Path
    data: DataConfig
    pillars: tuple[PillarSpec, ...]
    output: Path
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    adapt: str | None = None
    """Test-time adaptation to score with: "bn", "tent" or None."""
    rows: str = "auto"
    """Rows scored (:data:`fivefold.data.EVAL_ROWS`): "all", "test", or "auto" (a user file's
    every row unless it has an official test split; a built-in dataset's test split)."""

    def __post_init__(self) -> None:
        check_seed(self.seed, "--seed")  # before any file is written, not in torch.manual_seed


def data_config_for(data: str, options: dict[str, Any]) -> DataConfig:
    """A DataConfig from a dataset name or a file path (kind from its extension)."""
    kind = _FILE_KINDS.get(Path(data).suffix.lower())
    raw = {"dataset": kind, "path": data} if kind else {"dataset": data}
    config = build(DataConfig, {**raw, **options}, "data")
    from fivefold.data import DATASETS

    DATASETS.entry(config.dataset, field="--data")
    return config


def default_pillars() -> tuple[PillarSpec, ...]:
    """Every registered pillar that scores a single model (all but data efficiency)."""
    return PILLARS.specs([e.name for e in PILLARS if not e.obj.needs_refits], "--pillars")


def load_factory(target: str) -> Any:
    """Import ``package.module:callable``.

    Raises:
        ConfigError: malformed target.
        UserCodeError: the module is missing, fails to import (syntax error, an exception at
            import, a missing dependency) or has no such callable.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model {target!r}: expected package.module:factory")
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = _import_user_module(module_name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise UserCodeError(
            f"--model: {module_name!r} has no callable {attr!r}{did_you_mean(attr, names)}"
        )
    return factory


def _import_user_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is None or not (name + ".").startswith(err.name + "."):
            raise _raised(f"your module {name!r}", err) from err  # a dependency is missing
        raise UserCodeError(
            f"--model: cannot import {name!r}: {err}; check the name, and run from the folder "
            "that holds it or add that folder to PYTHONPATH"
        ) from None
    except (Exception, SystemExit) as err:  # importing runs the user's code: anything can fail
        raise _raised(f"your module {name!r}", err) from err


def _raised(who: str, err: BaseException) -> UserCodeError:
    return UserCodeError(f"{who} raised {first_line(err)}; run with --debug for its traceback")


def _factory_args(target: str, factory: Any, task: Task) -> tuple[Any, ...]:
    """``(task,)`` when the factory takes an argument, else ``()``."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: no signature to inspect
        return ()
    args = (task,) if signature.parameters else ()
    try:
        signature.bind(*args)
    except TypeError:
        raise UserCodeError(
            f"--model {target!r} takes {signature}; give a factory that takes no argument "
            "or only the task"
        ) from None
    return args


def _call_factory(target: str, factory: Any, task: Task) -> Any:
    args = _factory_args(target, factory, task)
    try:
        return factory(*args)
    except (Exception, SystemExit) as err:  # the user's factory: anything can fail
        raise _raised(f"your factory {target!r}", err) from err


def _build_user_model(target: str, task: Task) -> nn.Module:
    model = _call_factory(target, load_factory(target), task)
    if not isinstance(model, nn.Module):
        raise UserCodeError(
            f"--model {target!r} returned {type(model).__name__}, not an nn.Module; return "
            "the model (a torch.nn.Module) from the factory"
        )
    return model


def _check_outputs(model: nn.Module, task: Task) -> None:
    try:
        from fivefold.data.task import index_inputs

        logits = predict_logits(model, index_inputs(task.test.x, slice(0, 4)))
    except Exception as err:  # the user's forward pass failed on our inputs
        raise UserCodeError(
            f"--model: forward pass on {task.name!r} inputs failed: {first_line(err)}"
        ) from err
    if logits.ndim != 2 or logits.shape[1] != task.n_classes:
        raise ConfigError(
            f"--model: outputs have shape {tuple(logits.shape)}; expected (batch, "
            f"{task.n_classes}) logits for the {task.n_classes} classes of {task.name!r}"
        )


def audit_subject(
    model: nn.Module | Sequence[nn.Module],
    task: Task,
    seed: int,
    techniques: Sequence[Technique] = (),
    combiner: Combiner | None = None,
) -> Subject:
    """The subject the pillars score: ``model`` (or the members joined by ``combiner``) after
    the ``adapt_subject`` of ``techniques`` (none today: the audited model as it is), as a
    trial composes it after ``fit``."""
    ctx = FitContext(build(TrainConfig, {}, "train"), seed, tuple(techniques))
    return compose_subject(techniques, Subject(model, combiner=combiner), task, ctx)


def _load_audited(request: AuditRequest, task: Task) -> tuple[list[nn.Module], Combiner | None]:
    """The members of an ensemble checkpoint and their combiner, or the one model."""
    if is_member_checkpoint(request.weights):
        members, combiner = load_members(
            lambda _k: _build_user_model(request.model, task), request.weights, "--weights"
        )
        return members, combiner
    model = _build_user_model(request.model, task)
    load_weights(model, request.weights)
    return [model], None


def _adaptation(request: AuditRequest, audited: nn.Module | Sequence[nn.Module]) -> list[Technique]:
    """The ``tta`` technique ``--adapt`` asks for, checked against the model (none: [])."""
    if request.adapt is None:
        return []
    from fivefold.techniques import TECHNIQUES

    spec = TECHNIQUES.spec({"technique": "tta", "method": request.adapt}, "--adapt")
    first = audited if isinstance(audited, nn.Module) else audited[0]
    try:
        spec.plugin.check_model(spec.config, first, ["tta"])
    except ConfigError as err:
        raise ConfigError(f"--adapt {request.adapt}: {err}") from None
    return [spec.instantiate()]


def run_audit(request: AuditRequest) -> dict[str, Any]:
    """Score the model on the chosen pillars; write result.json and scorecard.json."""
    start = time.perf_counter()
    task, scored = load_evaluation_task(request.data, request.rows)
    members, combiner = _load_audited(request, task)
    for model in members:
        _check_outputs(model, task)
        model.eval()
    torch.manual_seed(request.seed)
    audited = members[0] if combiner is None else members
    techniques = _adaptation(request, audited)
    subject = audit_subject(audited, task, request.seed, techniques, combiner=combiner)
    core, pillars = score_subject(
        subject, task, request.pillars, request.seed, classes_option="--classes"
    )
    metrics = dict(core.metrics)
    if task.info.get("evaluated_rows") == "all":  # train/val accuracies would repeat test's
        metrics.pop("train_accuracy", None)
        metrics.pop("val_accuracy", None)
    result = {
        "schema_version": SCHEMA_VERSION,
        "experiment": "audit",
        "trial": {"recipe": "audit", "seed": request.seed, "fraction": 1.0, "key": "audit"},
        "config": {
            "model": request.model,
            "weights": str(request.weights),
            "data": to_dict(request.data),
            "pillars": {p.name: to_dict(p.config) for p in request.pillars},
            "adapt": request.adapt,
        },
        "status": "ok",
        "error": None,
        "environment": environment(),
        "model": {"name": request.model, **param_counts(subject)},
        "metrics": metrics,
        "warnings": core.warnings,
        "checks": core.checks,
        "test_examples": core.examples,
        "evaluation": {
            "rows": scored,
            "n_rows": len(task.test),
            "classes": list(task.class_names),
            "classes_given": bool(request.data.classes),
        },
        "pillars": pillars,
    }
    if len(subject.members) > 1:
        result["members"] = members_summary(subject, task)
    result["timings"] = {"total_s": time.perf_counter() - start}
    write_json(request.output / "trials" / "audit" / "result.json", result)
    write_json(request.output / "scorecard.json", build_scorecard("audit", [result]))
    return result


def parse_pillars(names: Sequence[str] | None) -> tuple[PillarSpec, ...]:
    """The pillars named on the command line (default: all single-model pillars)."""
    if not names:
        return default_pillars()
    specs = PILLARS.specs(list(names), "--pillars")
    for spec in specs:
        if PILLARS.get(spec.name).needs_refits:
            raise ConfigError(
                f"--pillars: {spec.name!r} retrains the recipe on label fractions and cannot "
                "score an existing model; use `fivefold run` for it"
            )
    return specs
