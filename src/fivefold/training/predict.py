"""Batched inference helpers shared by the training loop, pillars and benchmarks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, Split, index_inputs, input_length

__all__ = ["SplitScores", "predict_logits", "score_split"]


@torch.no_grad()
def predict_logits(model: nn.Module, x: Inputs, batch_size: int = 1024) -> torch.Tensor:
    """(N, C) logits of ``model`` in eval mode, computed in chunks; restores the train flag."""
    was_training = model.training
    model.eval()
    try:
        n = input_length(x)
        chunks = [model(index_inputs(x, slice(i, i + batch_size))) for i in range(0, n, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(chunks).float()


class SplitScores:
    """Mean cross-entropy and accuracy of a model on one split."""

    def __init__(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss = float(F.cross_entropy(logits, y))
        self.accuracy = float((logits.argmax(1) == y).float().mean())


def score_split(model: nn.Module, split: Split, batch_size: int = 1024) -> SplitScores:
    """Loss and accuracy of ``model`` on ``split``."""
    return SplitScores(predict_logits(model, split.x, batch_size), split.y)
