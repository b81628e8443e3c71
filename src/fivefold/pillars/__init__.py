"""Pillar plugins: importing this package registers every built-in pillar."""

from fivefold.pillars import (  # registration imports
    data_efficiency,
    generalization,
    interpretability,
    robustness,
    safety,
)
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, PillarSpec, Subject

del data_efficiency, generalization, interpretability, robustness, safety

__all__ = ["PILLARS", "Metric", "Pillar", "PillarResult", "PillarSpec", "Subject"]
