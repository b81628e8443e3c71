"""Ensembles: deep ensembles, bagging, snapshot ensembles, SAMME boosting and stacking.

- :mod:`.config`: the options.
- :mod:`.methods`: SAMME's update, stacking's folds and meta-learner, bootstrap rows.
- :mod:`.technique`: the ``ensemble`` technique itself.
"""

from fivefold.techniques.base import TECHNIQUES
from fivefold.techniques.ensemble.config import EnsembleConfig
from fivefold.techniques.ensemble.technique import Ensembling

TECHNIQUES.register(
    "ensemble",
    help="several members joined at evaluation: deep ensembles, bagging, snapshot, SAMME, stacking",
)(Ensembling)

__all__ = ["EnsembleConfig", "Ensembling"]
