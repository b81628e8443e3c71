"""Adaptive learning: test-time adaptation, continual learning under drift, meta-learning.

- :mod:`.tta`: ``tta``, batch-norm adaptation and TENT through an adapting Subject.
- :mod:`.continual`: ``continual``, class-/domain-incremental experiences and drifting
  streams with naive fine-tuning, experience replay or EWC, and river drift detectors.
- :mod:`.meta`: ``meta``, MAML, first-order MAML and Reptile for few-shot classification on
  held-out classes, against fine-tuning from scratch and a pretrained linear probe.
"""

from fivefold.techniques.adaptive.continual.technique import Continual, ContinualConfig
from fivefold.techniques.adaptive.meta.technique import Meta, MetaConfig
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

TECHNIQUES.register(
    "meta",
    help="meta-learning for few-shot classes: MAML, first-order MAML or Reptile on N-way "
    "K-shot episodes, scored on held-out classes against scratch and a linear probe",
)(Meta)

__all__ = ["Continual", "ContinualConfig", "Meta", "MetaConfig", "TTAConfig", "TestTimeAdaptation"]
