"""Subject shares one forward pass per input tensor between the metrics that score it, averages
several members' probabilities, and never serves an adapting model stale outputs."""

from __future__ import annotations

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.training.config import TrainConfig
from fivefold.training.hooks import FitContext, Technique, compose_subject
from fivefold.training.predict import predict_logits
from fivefold.training.subject import MEMO_SIZE, Ensemble, Subject


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


class Shifting(Subject):
    """Test-time adaptation stand-in: every adaptation raises class 0's bias by 0.5."""

    def adapt(self, x: torch.Tensor) -> None:  # type: ignore[override]
        with torch.no_grad():
            self.model.linear.bias[0] += 0.5

    def reset(self) -> None:
        with torch.no_grad():
            self.model.linear.bias[0] = 0.0


def test_two_members_average_their_probabilities() -> None:
    torch.manual_seed(0)
    a, b, x = Counting(), Counting(), torch.randn(10, 3)
    subject = Subject([a, b], eval_batch_size=4)
    mean = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
    assert subject.members == (a, b) and not subject.has_logits
    assert torch.allclose(subject.predict_proba(x), mean, atol=1e-7)
    assert torch.equal(subject.predict(x), subject.predict_proba(x).argmax(1))
    with pytest.raises(ValueError, match="no logits"):
        subject.logits(x)
    with pytest.raises(ValueError, match="2 members"):
        _ = subject.model
    module = subject.differentiable()  # log of the mean probabilities, differentiable
    assert isinstance(module, Ensemble) and module is subject.differentiable()
    assert torch.allclose(module(x).exp(), mean, atol=1e-6)
    assert Subject(nn.ModuleList([a, b])).members == (a, b)


def test_one_member_is_the_model_itself() -> None:
    torch.manual_seed(0)
    model, x = Counting(), torch.randn(10, 3)
    subject = Subject(model, eval_batch_size=4)
    assert subject.differentiable() is model and subject.model is model
    assert subject.members == (model,) and subject.has_logits and not subject.adapts
    assert torch.equal(subject.logits(x), predict_logits(model, x, 4))  # bit-identical
    assert torch.equal(subject.predict(x), predict_logits(model, x, 4).argmax(1))
    with pytest.raises(ValueError, match="at least one"):
        Subject([])


def test_an_adapting_subject_is_never_served_stale_outputs() -> None:
    torch.manual_seed(0)
    model, x, other = Counting(), torch.randn(10, 3), torch.randn(4, 3)
    subject = Shifting(model)
    assert subject.adapts
    first = subject.logits(x)  # adapted once, then computed
    assert torch.equal(first, predict_logits(model, x))
    calls = model.calls
    assert torch.equal(subject.predict_proba(x), torch.softmax(first, 1))
    assert model.calls == calls  # the model has not changed since: served from the memo
    subject.logits(other)  # adapts again: what was computed for x is stale now
    again = subject.logits(x)
    assert torch.equal(again, predict_logits(model, x)) and not torch.equal(again, first)
    subject.reset()
    assert torch.equal(subject.logits(x), predict_logits(model, x))
    assert len(subject._memo) == 1  # stale entries do not take slots


def test_adapt_and_reset_callables() -> None:
    torch.manual_seed(0)
    model, x = Counting(), torch.randn(10, 3)
    seen: list[int] = []
    subject = Subject(model, adapt=lambda s, inputs: seen.append(len(inputs)))
    assert subject.adapts
    subject.logits(x)
    subject.logits(x)
    assert seen == [10]  # adapted for the new input only
    subject.logits(x.clone())
    assert seen == [10, 10]


def test_compose_subject_applies_adapt_subject_in_recipe_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    techniques = [Technique(name, None) for name in ("first", "second")]
    for technique in techniques:

        def adapt(
            subject: Subject, task: object, ctx: object, name: str = technique.name
        ) -> Subject:
            order.append(name)
            return Subject([*subject.members, Counting()])

        monkeypatch.setattr(technique, "adapt_subject", adapt)
    ctx = FitContext(TrainConfig(), seed=0, techniques=techniques)
    subject = compose_subject(techniques, Subject(Counting()), tiny_task("tabular"), ctx)
    assert order == ["first", "second"] and len(subject.members) == 3
    plain = Subject(Counting())
    assert compose_subject([], plain, tiny_task("tabular"), ctx) is plain
