"""Data efficiency: how much labelled data does a recipe need?

The whole recipe is re-run on nested, stratified label fractions (each refit is a trial of its
own: cached, resumable, parallel). From the test accuracy at each fraction this pillar reports
the accuracy-vs-log-fraction curve, the area under it normalised to [0, 1], and the smallest
fraction reaching ``target`` × the full-data accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fivefold.data.task import Task
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, Subject
from fivefold.schema import option

__all__ = [
    "DataEfficiencyConfig",
    "DataEfficiencyPillar",
    "area_under_log_curve",
    "efficiency_result",
    "fraction_to_reach",
]


@dataclass(frozen=True)
class DataEfficiencyConfig:
    """Options of the data-efficiency pillar."""

    fractions: tuple[float, ...] = option(
        (0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
        help="label fractions of the training split (1.0 is the main trial)",
        min=0.0,
        max=1.0,
        exclusive_min=True,
    )
    target: float = option(
        0.95, help="share of full-data accuracy that defines 'enough data'", min=0.0, max=1.0
    )
    max_epoch_scale: float = option(
        10.0,
        help="small fractions train for epochs/fraction epochs (same number of steps as the "
        "full run), capped at this multiple of train.epochs",
        min=1.0,
    )

    def __post_init__(self) -> None:
        if len(set(self.fractions)) != len(self.fractions) or len(self.fractions) < 2:
            raise ValueError("fractions: give at least two distinct fractions")

    @property
    def refit_fractions(self) -> tuple[float, ...]:
        """The fractions below 1, each needing a refit trial."""
        return tuple(sorted(f for f in self.fractions if f < 1.0))


def area_under_log_curve(curve: Mapping[float, float]) -> float:
    """Trapezoid area under accuracy vs log(fraction), divided by the log-range: in [0, 1].

    Equals the mean accuracy along a log-spaced fraction axis; 1.0 means perfect accuracy at
    every fraction.
    """
    points = sorted(curve.items())
    if len(points) < 2:
        return points[0][1]
    xs = [math.log(f) for f, _ in points]
    area = sum(
        (xs[i + 1] - xs[i]) * (points[i][1] + points[i + 1][1]) / 2 for i in range(len(xs) - 1)
    )
    return area / (xs[-1] - xs[0])


def fraction_to_reach(curve: Mapping[float, float], target: float) -> float:
    """Smallest fraction whose accuracy is ≥ ``target`` × the accuracy at the largest fraction."""
    points = sorted(curve.items())
    goal = target * points[-1][1]
    return next(f for f, acc in points if acc >= goal)


def efficiency_result(curve: Mapping[float, float], target: float) -> PillarResult:
    """The pillar's result from test accuracy per label fraction (must include 1.0)."""
    metrics = {
        "aulc": Metric(area_under_log_curve(curve), True),
        "fraction_to_target": Metric(fraction_to_reach(curve, target), False),
        **{f"accuracy@{f:g}": Metric(acc, True) for f, acc in sorted(curve.items())},
    }
    rows = [{"fraction": f, "test_accuracy": acc} for f, acc in sorted(curve.items())]
    notes = []
    if list(curve) and min(curve) > 0.1:
        notes.append("the smallest fraction is above 10 %; the curve's low end is unmeasured")
    return PillarResult("aulc", metrics, {"learning_curve": rows}, notes)


class DataEfficiencyPillar(Pillar):
    """Accuracy per label fraction, its normalised area (headline ``aulc``) and the fraction
    needed for 95 % of full-data accuracy.

    In ``fivefold run`` the refits are separate trials that the runner plans from
    :meth:`refit_fractions` and :meth:`refit_epochs` and scores with :meth:`from_refits`;
    called directly, ``evaluate`` uses ``subject.refit(fraction, seed)``.
    """

    Config = DataEfficiencyConfig
    config: DataEfficiencyConfig
    needs_refits = True

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        if subject.refit is None:
            raise NotImplementedError("data efficiency needs a subject that can be refitted")
        curve = {1.0: _test_accuracy(subject, task)}
        for fraction in self.config.refit_fractions:
            refit = subject.refit(fraction, seed)
            if not isinstance(refit, Subject):
                refit = Subject(refit, eval_batch_size=subject.eval_batch_size)
            curve[fraction] = _test_accuracy(refit, task)
        return efficiency_result(curve, self.config.target)

    def refit_fractions(self) -> tuple[float, ...]:
        return self.config.refit_fractions

    def refit_epochs(self, epochs: int, fraction: float) -> int:
        """As many steps as the full run (``epochs / fraction``), capped at
        ``max_epoch_scale`` × ``epochs``."""
        return min(math.ceil(epochs / fraction), math.ceil(epochs * self.config.max_epoch_scale))

    def from_refits(self, scores: Mapping[float, Mapping[str, Any]]) -> PillarResult:
        curve = {fraction: metrics["test_accuracy"] for fraction, metrics in scores.items()}
        result = efficiency_result(curve, self.config.target)
        if len(curve) <= len(self.config.refit_fractions):
            result.notes.append("some label-fraction refits failed; the curve is partial")
        return result


def _test_accuracy(subject: Subject, task: Task) -> float:
    return float((subject.predict(task.test.x) == task.test.y).float().mean())


PILLARS.register(
    "data_efficiency",
    help="accuracy vs label fraction (refits), area under the curve, fraction for 95 %",
)(DataEfficiencyPillar)
