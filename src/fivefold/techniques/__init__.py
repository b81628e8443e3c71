"""Technique plugins: importing this package registers every built-in technique."""

import fivefold.techniques.adversarial  # noqa: F401 - registers "adversarial", "trades", "freelb"
from fivefold.techniques.base import TECHNIQUES, Batch, StepOutput, Technique, TechniqueSpec

__all__ = ["TECHNIQUES", "Batch", "StepOutput", "Technique", "TechniqueSpec"]
