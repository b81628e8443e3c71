"""``fivefold audit``: score a model the user already has on every pillar but data efficiency.

The model comes from a factory ``package.module:callable`` (called with the task if it takes an
argument, else with none) and its weights from a safetensors file (or a ``torch.save`` state
dict read with ``weights_only=True``) — never from an arbitrary pickle.
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

from fivefold.data import DataConfig, Task, load_task
from fivefold.errors import ConfigError
from fivefold.pillars import PILLARS, PillarSpec, Subject
from fivefold.results.files import SCHEMA_VERSION, environment, write_json
from fivefold.results.scorecard import build_scorecard
from fivefold.runner.trial import score_subject
from fivefold.schema import build, to_dict
from fivefold.training.checkpoint import load_weights
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
        ConfigError: malformed target, module not importable, or no such callable.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model {target!r}: expected package.module:factory")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"--model: cannot import {module_name!r}: {err}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"--model: {module_name!r} has no callable {attr!r}")
    return factory


def _build_user_model(target: str, task: Task) -> nn.Module:
    factory = load_factory(target)
    takes_task = bool(inspect.signature(factory).parameters)
    model = factory(task) if takes_task else factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {target!r} returned {type(model).__name__}, not an nn.Module")
    return model


def _check_outputs(model: nn.Module, task: Task) -> None:
    try:
        from fivefold.data.task import index_inputs

        logits = predict_logits(model, index_inputs(task.test.x, slice(0, 4)))
    except Exception as err:  # the user's forward pass failed on our inputs
        raise ConfigError(f"--model: forward pass on {task.name!r} inputs failed: {err}") from None
    if logits.ndim != 2 or logits.shape[1] != task.n_classes:
        raise ConfigError(
            f"--model: outputs have shape {tuple(logits.shape)}; expected (batch, "
            f"{task.n_classes}) logits for the {task.n_classes} classes of {task.name!r}"
        )


def audit_subject(
    model: nn.Module, task: Task, seed: int, techniques: Sequence[Technique] = ()
) -> Subject:
    """The subject the pillars score: ``model`` after the ``adapt_subject`` of ``techniques``
    (none today: the audited model as it is), as a trial composes it after ``fit``."""
    ctx = FitContext(build(TrainConfig, {}, "train"), seed, tuple(techniques))
    return compose_subject(techniques, Subject(model), task, ctx)


def run_audit(request: AuditRequest) -> dict[str, Any]:
    """Score the model on the chosen pillars; write result.json and scorecard.json."""
    start = time.perf_counter()
    task = load_task(request.data)
    model = _build_user_model(request.model, task)
    load_weights(model, request.weights)
    _check_outputs(model, task)
    model.eval()
    torch.manual_seed(request.seed)
    subject = audit_subject(model, task, request.seed)
    metrics, pillars = score_subject(subject, task, request.pillars, request.seed)
    result = {
        "schema_version": SCHEMA_VERSION,
        "experiment": "audit",
        "trial": {"recipe": "audit", "seed": request.seed, "fraction": 1.0, "key": "audit"},
        "config": {
            "model": request.model,
            "weights": str(request.weights),
            "data": to_dict(request.data),
            "pillars": {p.name: to_dict(p.config) for p in request.pillars},
        },
        "status": "ok",
        "error": None,
        "environment": environment(),
        "model": {
            "name": request.model,
            "params_total": sum(p.numel() for p in model.parameters()),
        },
        "metrics": metrics,
        "pillars": pillars,
    }
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
