"""Pillar plugins: importing this package registers every built-in pillar."""

from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, PillarSpec, Subject

__all__ = ["PILLARS", "Metric", "Pillar", "PillarResult", "PillarSpec", "Subject"]
