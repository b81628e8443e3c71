"""Technique plugins: importing this package registers every built-in technique."""

import fivefold.techniques.adaptive  # registers "tta"
import fivefold.techniques.adversarial  # registers "adversarial", "trades", "freelb"
import fivefold.techniques.augment  # registers "augment"
import fivefold.techniques.ensemble  # registers "ensemble"
import fivefold.techniques.fusion  # registers "fusion"
import fivefold.techniques.peft_methods  # registers "peft"
import fivefold.techniques.ssl  # registers "ssl"
import fivefold.techniques.transfer  # noqa: F401 - registers "transfer"
from fivefold.techniques.base import TECHNIQUES, TechniqueSpec
from fivefold.training.hooks import Batch, StepOutput, Technique

__all__ = ["TECHNIQUES", "Batch", "StepOutput", "Technique", "TechniqueSpec"]
