"""Multimodal fusion: one encoder per input, joined early, late, by attention or a gate.

- :mod:`.config`: the options.
- :mod:`.technique`: the ``fusion`` technique itself; the models are in
  :mod:`fivefold.models.fusion`.
"""

from fivefold.techniques.base import TECHNIQUES
from fivefold.techniques.fusion.config import FusionConfig
from fivefold.techniques.fusion.technique import Fusion

TECHNIQUES.register(
    "fusion",
    help="multimodal fusion: an encoder per input, joined early, late, by attention or a gate",
)(Fusion)

__all__ = ["Fusion", "FusionConfig"]
