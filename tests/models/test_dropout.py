"""fivefold's Dropout: drop rate, unbiasedness, seeding, and its twin in stacked members."""

from __future__ import annotations

import math

import pytest
import torch

from fivefold.models.dropout import CODES, Dropout, dropout_mask
from fivefold.models.stacked import StackedDropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_drop_rate_and_expectation(p: float) -> None:
    n = 400_000
    torch.manual_seed(0)
    out = Dropout(p).train()(torch.ones(n))
    kept = round((1 - p) * CODES) / CODES
    sigma = math.sqrt(kept * (1 - kept) / n)
    rate = float((out == 0).float().mean())
    assert abs(rate - p) < 5 * sigma + 1 / CODES
    assert torch.allclose(out[out != 0], torch.tensor(1 / kept))  # survivors scaled by 1/keep
    assert abs(float(out.mean()) - 1.0) < 5 * sigma / kept  # unbiased: E[out] = x


def test_identity_in_eval_and_at_zero_and_all_dropped_at_one() -> None:
    x = torch.randn(8, 5)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    assert dropout_mask((3,), 1e-7) is None  # rounds to keeping everything


def test_seeded_like_the_global_stream_and_gradient_is_the_mask() -> None:
    x = torch.randn(16, 33, requires_grad=True)  # 528 entries: not a multiple of 4 draws
    torch.manual_seed(5)
    out = Dropout(0.25).train()(x)
    mask = dropout_mask(x.shape, 0.25, torch.Generator().manual_seed(5))
    assert mask is not None and torch.equal(out, x * mask)
    out.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, mask)
    torch.manual_seed(5)
    assert torch.equal(Dropout(0.25).train()(x), out)  # same seed, same mask


def test_codes_are_uniform_over_16_bits() -> None:
    words = torch.empty(50_000, dtype=torch.int64).random_(-(2**63), None)
    codes = words.view(torch.int16).float()
    assert abs(float(codes.mean())) < 200  # uniform on [-32768, 32767]: mean -0.5, sd 18919
    assert abs(float(codes.std()) - CODES / math.sqrt(12)) < 200


def test_stacked_members_draw_what_each_draws_alone() -> None:
    k, b, h = 3, 7, 10
    x = torch.randn(k, b, h)
    streams = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    states = [g.get_state() for g in streams]
    stacked = StackedDropout(0.2, streams).train()(x)
    for j, state in enumerate(states):
        torch.set_rng_state(state)
        assert torch.equal(stacked[j], Dropout(0.2).train()(x[j]))
    # members of torch's nn.Dropout keep torch's own Bernoulli draws
    streams = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    states = [g.get_state() for g in streams]
    plain = StackedDropout(0.2, streams, torch_mask=True).train()(x)
    for j, state in enumerate(states):
        torch.set_rng_state(state)
        assert torch.allclose(plain[j], torch.nn.Dropout(0.2).train()(x[j]))
