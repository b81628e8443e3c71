"""Adaptive learning: test-time adaptation, continual learning under drift, meta-learning.

- :mod:`.tta`: ``tta``, batch-norm adaptation and TENT through an adapting Subject.
"""

from fivefold.techniques.adaptive.tta import TestTimeAdaptation, TTAConfig
from fivefold.techniques.base import TECHNIQUES

TECHNIQUES.register(
    "tta",
    help="test-time adaptation at evaluation: batch-norm statistics (bn) or entropy "
    "minimisation of the norm layers' affine parameters (tent)",
)(TestTimeAdaptation)

__all__ = ["TTAConfig", "TestTimeAdaptation"]
