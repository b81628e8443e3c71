"""Subject shares one forward pass per input tensor between the metrics that score it."""

from __future__ import annotations

import torch
from torch import nn

from fivefold.training.predict import predict_logits
from fivefold.training.subject import MEMO_SIZE, Subject


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out: torch.Tensor = self.linear(x)
        return out


def test_logits_are_computed_once_per_tensor_and_equal_a_fresh_pass() -> None:
    torch.manual_seed(0)
    model = Counting()
    subject = Subject(model, eval_batch_size=4)
    x, other = torch.randn(10, 3), torch.randn(10, 3)
    first = subject.predict_proba(x)
    calls = model.calls
    assert torch.equal(subject.predict_proba(x), first)
    assert model.calls == calls  # served from the memo
    assert torch.equal(subject.logits(x), predict_logits(model, x, 4))
    calls = model.calls
    subject.logits(x.clone())  # equal values, another tensor: computed again
    assert model.calls > calls
    assert torch.allclose(subject.predict_proba(other), torch.softmax(model(other), 1))


def test_memo_is_bounded() -> None:
    subject = Subject(Counting())
    for _ in range(MEMO_SIZE + 3):
        subject.logits(torch.randn(2, 3))
    assert len(subject._memo) == MEMO_SIZE
