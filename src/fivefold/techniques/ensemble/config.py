"""Options of the ``ensemble`` technique."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fivefold.schema import option

__all__ = ["EnsembleConfig", "Method"]

Method = Literal["deep", "bagging", "snapshot", "boosting", "stacking"]


@dataclass(frozen=True)
class EnsembleConfig:
    """How many members, trained how, and joined how."""

    method: Literal["deep", "bagging", "snapshot", "boosting", "stacking"] = option(
        "deep",
        help="deep: independently initialised members on all rows; bagging: each member on a "
        "bootstrap sample; snapshot: one run with a cyclic learning rate, a member per cycle; "
        "boosting: multi-class SAMME (weighted resampling, weighted vote); stacking: a "
        "logistic-regression meta-learner on out-of-fold member probabilities",
    )
    members: int = option(5, help="number of members (snapshot: cycles)", min=2, max=64)
    together: bool = option(
        True,
        help="train same-architecture members (mlp, cnn) at once as one wide model when the "
        "recipe allows; each member ends as it would alone (false: one after another)",
    )
    bootstrap: float = option(
        1.0,
        help="bagging: bootstrap sample size as a share of the training rows",
        min=0.1,
        max=1.0,
    )
    folds: int = option(5, help="stacking: folds of the out-of-fold predictions", min=2, max=20)
    meta_l2: float = option(
        1e-3, help="stacking: L2 penalty of the meta-learner (per row, on the weights)", min=0.0
    )
