"""Series ops of ``augment``: shapes kept, zero strength is the identity, seeded, and each op
checked against a naive reference (``np.interp``, explicit segment lists) or an invariant."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.techniques.augment import series
from fivefold.techniques.augment.config import DEFAULT_STRENGTH

OPS = sorted(series.SERIES_OPS)
IDENTITY_AT = {
    "jitter": 0.0,
    "scaling": 0.0,
    "magnitude_warp": 0.0,
    "time_warp": 0.0,
    "window_slice": 0.0,
    "permute": 1.0,
}


def batch(b: int = 5, c: int = 3, t: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, c, t, generator=torch.Generator().manual_seed(seed)).cumsum(-1)


@settings(max_examples=20, deadline=None)
@given(op=st.sampled_from(OPS), b=st.integers(1, 6), c=st.integers(1, 4), t=st.integers(2, 64))
def test_shape_dtype_and_finiteness(op: str, b: int, c: int, t: int) -> None:
    x = batch(b, c, t)
    out = series.SERIES_OPS[op](x, DEFAULT_STRENGTH[op], torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("op", OPS)
def test_zero_strength_is_identity(op: str) -> None:
    x = batch()
    out = series.SERIES_OPS[op](x, IDENTITY_AT[op], torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-4), op


@pytest.mark.parametrize("op", OPS)
def test_seeded(op: str) -> None:
    x = batch()
    s = DEFAULT_STRENGTH[op]
    a = series.SERIES_OPS[op](x, s, torch.Generator().manual_seed(1))
    assert torch.equal(a, series.SERIES_OPS[op](x, s, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, series.SERIES_OPS[op](x, s, torch.Generator().manual_seed(2)))


def test_resample_matches_numpy_interp() -> None:
    x = batch(4, 2, 30)
    pos = torch.rand(4, 45, generator=torch.Generator().manual_seed(3)) * 29
    out = series.resample(x, pos)
    for i, j in itertools.product(range(4), range(2)):
        ref = np.interp(pos[i].numpy(), np.arange(30), x[i, j].numpy())
        assert np.allclose(out[i, j].numpy(), ref, atol=1e-4)


def test_time_warp_is_a_monotone_reparametrisation_keeping_the_ends() -> None:
    ramp = torch.arange(60.0).expand(8, 1, 60)  # x(t) = t reads back the warped clock
    out = series.time_warp(ramp, 0.3, torch.Generator().manual_seed(0))
    assert torch.allclose(out[..., 0], ramp[..., 0], atol=1e-4)
    assert torch.allclose(out[..., -1], ramp[..., -1], atol=1e-3)
    assert bool((out.diff(dim=-1) > 0).all())
    assert not torch.allclose(out, ramp, atol=0.1)


def test_window_slice_is_a_linear_stretch_of_a_window() -> None:
    t, s = 40, 0.25
    ramp = torch.arange(float(t)).expand(6, 2, t)
    out = series.window_slice(ramp, s, torch.Generator().manual_seed(0))
    step = out.diff(dim=-1)
    assert torch.allclose(step, torch.full_like(step, 1 - s), atol=1e-4)
    start = out[..., 0]
    assert bool((start >= 0).all() and (start <= s * (t - 1) + 1e-4).all())
    assert torch.equal(out[:, 0], out[:, 1]), "channels share one window"


def test_permute_rearranges_whole_segments() -> None:
    t, k = 20, 3
    x = batch(10, 2, t)
    out = series.permute(x, float(k), torch.Generator().manual_seed(0))
    bounds = [0, 7, 14, 20]  # 20 steps in 3 segments: 7, 7, 6
    segments = [range(bounds[i], bounds[i + 1]) for i in range(k)]
    for i in range(10):
        candidates = [
            torch.cat([x[i][:, list(segments[s])] for s in order], dim=1)
            for order in itertools.permutations(range(k))
        ]
        assert any(torch.equal(out[i], c) for c in candidates)


def test_scaling_and_magnitude_warp_multiply() -> None:
    x = batch().abs() + 1.0
    g = torch.Generator().manual_seed(0)
    ratio = series.scaling(x, 0.2, g) / x
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio), atol=1e-5)
    curve = series.magnitude_warp(x, 0.2, g) / x
    assert float(curve.std()) > 0.02, "the warp must change the series"
    bumpiness = curve.diff(n=2, dim=-1).abs().max()
    assert float(bumpiness) < 0.1, "the warp curve must be smooth (white noise: ~0.5)"


def test_jitter_scales_with_each_channel_std() -> None:
    x = torch.randn(2, 2, 5000, generator=torch.Generator().manual_seed(0))
    x[:, 1] *= 10
    noise = series.jitter(x, 0.1, torch.Generator().manual_seed(1)) - x
    ratio = noise[:, 1].std() / noise[:, 0].std()
    assert 9.0 < float(ratio) < 11.0
