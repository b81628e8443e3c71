"""The Subject: a trained model under evaluation, the only way a pillar reaches a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from fivefold.data.task import Inputs
from fivefold.training.predict import predict_logits

__all__ = ["MEMO_SIZE", "Subject"]


@dataclass
class Subject:
    """A trained model under evaluation, with how to refit it (for data efficiency).

    The model must not change while it is evaluated: logits of the last few inputs are kept
    (matched by tensor identity), so the core metrics and every pillar that scores the same
    split share one forward pass over it.
    """

    model: nn.Module
    refit: Callable[[float, int], nn.Module] | None = None
    eval_batch_size: int = 1024
    _memo: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]] = field(
        default_factory=list, repr=False, compare=False
    )

    def logits(self, x: Inputs) -> torch.Tensor:
        """(N, C) logits of the model in eval mode (computed once per input tensor)."""
        key = tuple(x.values()) if isinstance(x, dict) else (x,)
        for seen, out in self._memo:
            if len(seen) == len(key) and all(a is b for a, b in zip(seen, key, strict=True)):
                return out
        out = predict_logits(self.model, x, self.eval_batch_size)
        self._memo.insert(0, (key, out))
        del self._memo[MEMO_SIZE:]
        return out

    def predict_proba(self, x: Inputs) -> torch.Tensor:
        """(N, C) class probabilities."""
        return torch.softmax(self.logits(x), dim=1)


MEMO_SIZE = 6
"""Inputs whose logits a Subject keeps (train, val, test and a few shift or OOD splits)."""
