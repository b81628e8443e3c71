"""Adversarial training: ``adversarial`` (PGD, FGSM with a random start) and ``trades`` for
continuous inputs, ``freelb`` for text (perturbations of the token embeddings).

Recipes::

    pgd    = [{technique = "adversarial", method = "pgd", eps = 0.1, steps = 7}]
    fast   = [{technique = "adversarial", method = "fgsm", eps = 0.1}]
    trades = [{technique = "trades", beta = 6.0, eps = 0.1}]
    text   = [{technique = "freelb", steps = 3}]

Reference: Madry et al., ICLR 2018; Wong, Rice & Kolter, ICLR 2020; Zhang et al., ICML 2019;
Zhu et al., ICLR 2020.
"""

from fivefold.techniques.adversarial.continuous import (
    AdversarialConfig,
    AdversarialTraining,
    Trades,
    TradesConfig,
    trades_objective,
)
from fivefold.techniques.adversarial.crafting import crafting, perturb, warmup_eps
from fivefold.techniques.adversarial.freelb import FreeLB, FreeLBConfig, freelb_losses

__all__ = [
    "AdversarialConfig",
    "AdversarialTraining",
    "FreeLB",
    "FreeLBConfig",
    "Trades",
    "TradesConfig",
    "crafting",
    "freelb_losses",
    "perturb",
    "trades_objective",
    "warmup_eps",
]
