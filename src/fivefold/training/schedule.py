"""Pure learning-rate schedule functions (as in nanoGPT's ``get_lr``)."""

from __future__ import annotations

import math

__all__ = ["lr_factor"]


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimisation ``step`` (0-based).

    Linear warmup over ``warmup_steps`` then ``cosine`` / ``linear`` decay to 0 at
    ``total_steps``, or ``constant``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))
