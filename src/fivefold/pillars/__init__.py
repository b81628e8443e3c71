"""Pillar plugins: importing this package registers every built-in pillar.

One folder per pillar that has several parts (robustness, interpretability, safety), one
module per pillar that has one (generalization, data efficiency), and ``metrics/`` beside
them: plain metric functions that every pillar shares.
"""

from fivefold.pillars import data_efficiency, generalization  # registration imports
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, PillarSpec, Subject
from fivefold.pillars.interpretability import pillar as _interpretability
from fivefold.pillars.robustness import pillar as _robustness
from fivefold.pillars.safety import pillar as _safety

del data_efficiency, generalization, _interpretability, _robustness, _safety

__all__ = ["PILLARS", "Metric", "Pillar", "PillarResult", "PillarSpec", "Subject"]
