"""Adaptive learning: test-time adaptation, continual learning under drift, meta-learning.

- :mod:`.tta`: ``tta``, batch-norm adaptation and TENT through an adapting Subject.
- :mod:`.continual`: ``continual``, class-/domain-incremental experiences and drifting
  streams with naive fine-tuning, experience replay or EWC, and river drift detectors.
"""

from fivefold.techniques.adaptive.continual.technique import Continual, ContinualConfig
from fivefold.techniques.adaptive.tta import TestTimeAdaptation, TTAConfig
from fivefold.techniques.base import TECHNIQUES

TECHNIQUES.register(
    "tta",
    help="test-time adaptation at evaluation: batch-norm statistics (bn) or entropy "
    "minimisation of the norm layers' affine parameters (tent)",
)(TestTimeAdaptation)

TECHNIQUES.register(
    "continual",
    help="continual learning: class- or domain-incremental experiences, or a drifting stream "
    "test-then-train; naive, replay or EWC; river drift detectors",
)(Continual)

__all__ = ["Continual", "ContinualConfig", "TTAConfig", "TestTimeAdaptation"]
