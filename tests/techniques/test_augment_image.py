"""Image ops of ``augment``: shape, dtype and bounds kept; seeded; each op meets an invariant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.techniques.augment import image
from fivefold.techniques.augment.config import DEFAULT_OPS, DEFAULT_STRENGTH
from fivefold.techniques.augment.ops import apply_with_prob

OPS = sorted(image.IMAGE_OPS)


def images(b: int = 6, c: int = 1, h: int = 10, w: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=12, deadline=None)
@given(
    op=st.sampled_from(OPS),
    channels=st.sampled_from([1, 3]),
    low=st.floats(-2.0, 0.5, width=32),
    span=st.sampled_from([0.5, 1.0, 4.0]),
    strength_scale=st.floats(0.0, 3.0),
)
def test_every_op_keeps_shape_dtype_and_bounds(
    op: str, channels: int, low: float, span: float, strength_scale: float
) -> None:
    x = images(c=channels) * span + low
    steps = [(op, DEFAULT_STRENGTH[op] * strength_scale or 0.01, 1.0)]
    out = image.augment_images(x, steps, (low, low + span), torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    lo32, hi32 = (float(torch.tensor(v)) for v in (low, low + span))  # bounds as float32
    assert float(out.min()) >= lo32 and float(out.max()) <= hi32


@pytest.mark.parametrize("op", OPS)
def test_same_seed_same_output_and_global_rng_untouched(op: str) -> None:
    x = images()
    state = torch.get_rng_state()
    a = image.IMAGE_OPS[op](x, DEFAULT_STRENGTH[op], torch.Generator().manual_seed(5))
    b = image.IMAGE_OPS[op](x, DEFAULT_STRENGTH[op], torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state), f"{op} consumed the global RNG"
    if op not in ("hflip", "vflip"):
        c = image.IMAGE_OPS[op](x, DEFAULT_STRENGTH[op], torch.Generator().manual_seed(6))
        assert not torch.equal(a, c), f"{op}: a different seed gave the same images"


def test_flips_match_numpy() -> None:
    x = images(c=3)
    g = torch.Generator()
    assert np.array_equal(image.hflip(x, 0.0, g).numpy(), x.numpy()[..., ::-1])
    assert np.array_equal(image.vflip(x, 0.0, g).numpy(), x.numpy()[..., ::-1, :])


def test_zero_strength_geometry_is_identity() -> None:
    x = images()
    g = torch.Generator().manual_seed(0)
    for op in ("translate", "rotate", "affine"):
        assert torch.allclose(image.IMAGE_OPS[op](x, 0.0, g), x, atol=1e-5), op


def test_brightness_adds_one_level_per_image_within_strength() -> None:
    x = images(c=3)
    out = image.brightness(x, 0.2, torch.Generator().manual_seed(0))
    shift = (out - x).flatten(1)  # (B, CHW)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)
    assert float(shift.abs().max()) <= 0.2 + 1e-6


def test_contrast_scales_deviation_from_the_mean() -> None:
    x = images()
    out = image.contrast(x, 0.3, torch.Generator().manual_seed(0))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    ratio = ((out - mean) / (x - mean)).flatten(1)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-6)
    assert torch.allclose(ratio, ratio.median(dim=1, keepdim=True).values, atol=1e-3)
    assert float(ratio.min()) >= 0.7 - 1e-3 and float(ratio.max()) <= 1.3 + 1e-3


def test_pixel_noise_has_the_requested_std() -> None:
    x = torch.full((4, 1, 64, 64), 0.5)
    out = image.pixel_noise(x, 0.1, torch.Generator().manual_seed(0))
    assert abs(float((out - x).std()) - 0.1) < 0.005


def test_erase_blanks_one_rectangle_of_bounded_area() -> None:
    x = torch.rand(8, 1, 20, 20, generator=torch.Generator().manual_seed(0)) + 0.5
    out = image.erase(x, 0.3, torch.Generator().manual_seed(1))
    for row in out[:, 0]:
        zero = (row == 0).nonzero()
        assert len(zero) > 0
        (r0, c0), (r1, c1) = zero.min(0).values.tolist(), zero.max(0).values.tolist()
        assert len(zero) == (r1 - r0 + 1) * (c1 - c0 + 1), "erased pixels are not a rectangle"
        assert len(zero) <= 0.3 * 400 + 1


def test_randaugment_applies_exactly_n_ops_per_sample() -> None:
    x = images(b=40, w=10, h=10)
    g = torch.Generator().manual_seed(3)
    one = image.randaugment(x, ("hflip", "vflip"), 1, 10.0, g)
    h, v = torch.flip(x, dims=(-1,)), torch.flip(x, dims=(-2,))
    is_h = (one == h).flatten(1).all(1)
    is_v = (one == v).flatten(1).all(1)
    assert bool((is_h ^ is_v).all()), "each sample must get exactly one of the two ops"
    assert 0 < int(is_h.sum()) < 40, "ops are drawn per sample"
    two = image.randaugment(x, ("hflip", "vflip"), 2, 10.0, g)
    assert torch.equal(two, torch.flip(x, dims=(-1, -2)))


def test_apply_with_prob_picks_rows() -> None:
    x = images(b=200, h=4, w=4)
    g = torch.Generator().manual_seed(0)
    out = apply_with_prob(x, image.hflip, 0.0, 0.3, g)
    changed = (out != x).flatten(1).any(1).float().mean()
    assert 0.2 < float(changed) < 0.4
    assert apply_with_prob(x, image.hflip, 0.0, 0.0, g) is x


def test_default_policy_never_flips() -> None:
    assert not {"hflip", "vflip"} & set(DEFAULT_OPS["image"])


def test_unbounded_images_keep_their_scale() -> None:
    x = images() * 100 - 50
    steps = [(op, DEFAULT_STRENGTH[op], 1.0) for op in DEFAULT_OPS["image"]]
    out = image.augment_images(x, steps, None, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert 20 < float(out.std()) < 60
