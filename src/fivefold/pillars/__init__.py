"""Pillar plugins: importing this package registers every built-in pillar."""

from fivefold.pillars import data_efficiency
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, PillarSpec, Subject

del data_efficiency  # imported to register the pillar

__all__ = ["PILLARS", "Metric", "Pillar", "PillarResult", "PillarSpec", "Subject"]

from fivefold.pillars import generalization, safety  # noqa: E402, F401 - registers the pillars
from fivefold.pillars import interpretability  # noqa: E402, F401 - registers the pillar
from fivefold.pillars import robustness  # noqa: E402, F401 - registers the pillar
