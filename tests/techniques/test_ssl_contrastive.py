"""SimCLR's NT-Xent loss against a naive double loop, and the view augmentations' invariants."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.data.task import ModalityInfo
from fivefold.techniques.ssl.contrastive import nt_xent
from fivefold.techniques.ssl.masking import feature_units
from fivefold.techniques.ssl.views import (
    ViewMaker,
    ViewStrength,
    resized_crop,
    series_view,
    tabular_view,
    text_view,
)


def naive_nt_xent(z1: list[list[float]], z2: list[list[float]], tau: float) -> float:
    """Chen et al. 2020, Algorithm 1, with explicit loops over anchors and candidates."""
    views = [*z1, *z2]
    n = len(z1)

    def cos(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    total = 0.0
    for i in range(2 * n):
        partner = i + n if i < n else i - n
        denominator = 0.0
        for k in range(2 * n):
            if k != i:
                denominator += math.exp(cos(views[i], views[k]) / tau)
        total += -math.log(math.exp(cos(views[i], views[partner]) / tau) / denominator)
    return total / (2 * n)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 6),
    dim=st.integers(1, 5),
    tau=st.floats(0.1, 2.0),
    seed=st.integers(0, 999),
)
def test_nt_xent_matches_a_double_loop(batch: int, dim: int, tau: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, dim, generator=g, dtype=torch.float64) + 0.1
    z2 = torch.randn(batch, dim, generator=g, dtype=torch.float64) + 0.1
    expected = naive_nt_xent(z1.tolist(), z2.tolist(), tau)
    assert math.isclose(float(nt_xent(z1, z2, tau)), expected, rel_tol=1e-9, abs_tol=1e-9)


def test_nt_xent_prefers_aligned_pairs() -> None:
    z = torch.eye(4)
    assert float(nt_xent(z, z, 0.1)) < float(nt_xent(z, z.roll(1, dims=0), 0.1))


def test_full_crop_is_the_identity() -> None:
    x = torch.rand(3, 2, 5, 7)
    out = resized_crop(x, torch.ones(3), torch.ones(3), torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-6)


def test_series_crop_resizes_a_window_back_to_full_length() -> None:
    t = torch.linspace(0, 1, 50)
    x = t.expand(4, 1, 50).clone()  # a ramp: any crop of it is again a ramp
    s = ViewStrength(crop_scale=0.5, jitter=0.0, noise=0.0, corruption=0.0)
    out = series_view(x, torch.ones(1, 1, 1), s, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    steps = out[:, 0, 1:-1].diff(dim=1)
    assert bool((steps > 0).all()), "a stretched ramp keeps rising"
    span = out[:, 0, -1] - out[:, 0, 0]
    assert bool((span <= 1.0 + 1e-6).all()) and bool((span >= 0.4).all())


def test_tabular_view_takes_whole_features_from_pool_rows() -> None:
    info = ModalityInfo("tabular", (5,), categorical=((2, 3, 4),))
    units = feature_units(info)
    g = torch.Generator().manual_seed(0)
    pool = torch.cat(
        [torch.randn(200, 2, generator=g) + 10.0, torch.eye(3)[torch.randint(0, 3, (200,))]], 1
    )
    x = torch.cat([torch.zeros(400, 2), torch.eye(3)[torch.zeros(400, dtype=torch.int64)]], 1)
    out = tabular_view(x, pool, units, 0.6, torch.Generator().manual_seed(1))
    assert torch.equal(out[:, 2:].sum(dim=1), torch.ones(400)), "one-hot groups stay one-hot"
    for col in range(2):
        changed = out[:, col] != 0
        in_pool = (out[changed, col, None] == pool[None, :, col]).any(dim=1)
        assert bool(in_pool.all()), "a corrupted value comes from the same column of the pool"
        assert abs(float(changed.float().mean()) - 0.6) < 0.08


def test_text_view_drops_or_masks_real_tokens_only() -> None:
    ids = torch.randint(2, 30, (300, 10))
    ids[:, 7:] = 0
    out = text_view(ids, 0.4, 1, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 7:], ids[:, 7:])
    changed = out != ids
    assert set(out[changed].tolist()) <= {0, 1}
    assert abs(float(changed[:, :7].float().mean()) - 0.4) < 0.05


def test_views_are_seeded_and_respect_bounds() -> None:
    info = ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))
    x = {"x": torch.rand(6, 1, 8, 8)}
    maker = ViewMaker(
        {"x": info},
        x,
        {"x": torch.full((1, 1, 1, 1), 0.3)},
        ViewStrength(crop_scale=0.5, jitter=0.4, noise=0.2, corruption=0.6),
        1,
        {},
    )
    a = maker(x, torch.Generator().manual_seed(5))["x"]
    b = maker(x, torch.Generator().manual_seed(5))["x"]
    c = maker(x, torch.Generator().manual_seed(6))["x"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x["x"].shape
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
