"""Technique plugins: importing this package registers every built-in technique."""

from fivefold.techniques.base import TECHNIQUES, Batch, StepOutput, Technique, TechniqueSpec

__all__ = ["TECHNIQUES", "Batch", "StepOutput", "Technique", "TechniqueSpec"]
