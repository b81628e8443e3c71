"""The Pillar protocol: evaluate a trained model on one of the five pillars."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from fivefold.data.task import Inputs, Task
from fivefold.errors import ConfigError
from fivefold.registry import Registry
from fivefold.schema import build
from fivefold.training.predict import predict_logits

__all__ = ["PILLARS", "Metric", "Pillar", "PillarResult", "PillarSpec", "Subject"]


@dataclass(frozen=True)
class Metric:
    """One reported number and whether higher is better."""

    value: float
    higher_is_better: bool


@dataclass
class PillarResult:
    """What a pillar reports: a headline metric, all metrics, per-slice tables and notes.

    Attributes:
        headline: the name of the metric in ``metrics`` that summarises the pillar.
        metrics: name → Metric.
        tables: per-slice rows (per group, corruption × severity, label fraction, ...).
        notes: warnings and caveats (e.g. a failed gradient-masking check).
    """

    headline: str
    metrics: dict[str, Metric]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "metrics": {
                k: {"value": m.value, "higher_is_better": m.higher_is_better}
                for k, m in self.metrics.items()
            },
            "tables": self.tables,
            "notes": self.notes,
        }


@dataclass
class Subject:
    """A trained model under evaluation, with how to refit it (for data efficiency).

    The model must not change while it is evaluated: logits of the last few inputs are kept
    (matched by tensor identity), so the core metrics and every pillar that scores the same
    split share one forward pass over it.
    """

    model: nn.Module
    refit: Callable[[float, int], nn.Module] | None = None
    eval_batch_size: int = 1024
    _memo: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]] = field(
        default_factory=list, repr=False, compare=False
    )

    def logits(self, x: Inputs) -> torch.Tensor:
        """(N, C) logits of the model in eval mode (computed once per input tensor)."""
        key = tuple(x.values()) if isinstance(x, dict) else (x,)
        for seen, out in self._memo:
            if len(seen) == len(key) and all(a is b for a, b in zip(seen, key, strict=True)):
                return out
        out = predict_logits(self.model, x, self.eval_batch_size)
        self._memo.insert(0, (key, out))
        del self._memo[MEMO_SIZE:]
        return out

    def predict_proba(self, x: Inputs) -> torch.Tensor:
        """(N, C) class probabilities."""
        return torch.softmax(self.logits(x), dim=1)


MEMO_SIZE = 6
"""Inputs whose logits a Subject keeps (train, val, test and a few shift or OOD splits)."""


class Pillar:
    """Base class of a pillar plugin: a Config dataclass and ``evaluate``."""

    Config: ClassVar[type[Any]]
    needs_refits: ClassVar[bool] = False
    """True for pillars computed from refit trials (data efficiency), not from one model."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        raise NotImplementedError


PILLARS: Registry[type[Pillar]] = Registry("pillar")


@dataclass(frozen=True)
class PillarSpec:
    """A pillar name with its validated options."""

    name: str
    config: Any

    @classmethod
    def parse_all(cls, raw: Any, path: str = "pillars") -> tuple[PillarSpec, ...]:
        """From a list of names, or a table name → options."""
        if isinstance(raw, list):
            raw = {str(name): {} for name in raw}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: expected a list of pillar names or a table of options")
        specs = []
        for name, options in raw.items():
            kind = PILLARS.get(str(name), field=path)
            specs.append(cls(str(name), build(kind.Config, options, f"{path}.{name}")))
        return tuple(specs)

    def instantiate(self) -> Pillar:
        return PILLARS.get(self.name)(self.config)
