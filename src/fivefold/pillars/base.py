"""The Pillar protocol: evaluate a trained model on one of the five pillars."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fivefold.data.task import Task
from fivefold.registry import Registry, Spec
from fivefold.training.subject import Subject

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


class Pillar:
    """Base class of a pillar plugin: a Config dataclass and ``evaluate``.

    A pillar computed from refit trials (``needs_refits``) also plans them: the label
    fractions to refit, their epochs and its result from the trials' core metrics, so that the
    runner needs to know nothing about any such pillar.
    """

    Config: ClassVar[type[Any]]
    needs_refits: ClassVar[bool] = False
    """True for pillars computed from refit trials (data efficiency), not from one model."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        raise NotImplementedError

    def refit_fractions(self) -> tuple[float, ...]:
        """Label fractions below 1, ascending, each retrained as a trial of its own."""
        return ()

    def refit_epochs(self, epochs: int, fraction: float) -> int:
        """Epochs of the refit at ``fraction`` when the full run trains for ``epochs``."""
        return epochs

    def from_refits(self, scores: Mapping[float, Mapping[str, Any]]) -> PillarResult:
        """The result from the core metrics (``test_accuracy``, ...) of each finished trial.

        Args:
            scores: label fraction → core metrics of that trial; 1.0 is the full trial, and a
                refit that failed is missing.
        """
        raise NotImplementedError(f"{type(self).__name__} is not computed from refits")


PILLARS: Registry[type[Pillar]] = Registry(
    "pillar",
    config_of=lambda kind: kind.Config,
    make=lambda kind, spec: kind(spec.config),
    home="fivefold.pillars",
)


PillarSpec = Spec[type[Pillar]]
"""A pillar name with its validated options."""
