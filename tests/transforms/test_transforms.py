"""The tensor transforms of :mod:`fivefold.transforms`, each checked once through one table.

Every case runs a transform the way its callers do (they draw the random parameters from the
generator and pass them in): shape and dtype kept for float32 and float64, values kept in the
input range where the transform is a convex combination with zero fill, the identity at zero
strength, the same output for the same seed (and another for another seed) and the global
random stream untouched. Oracles follow: quarter turns are ``torch.rot90``, resampling is
indexing at integer positions and ``np.interp`` in between, a constant speed does not warp.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.transforms import common, image, series, tabular

GROUPS = ((2, 3, 4), (5, 6))
SHAPES = {"image": (3, 2, 7, 9), "series": (4, 2, 16), "tabular": (12, 7)}
Apply = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One transform as a caller runs it: ``apply(x, strength, gen)``.

    Attributes:
        name: the case id.
        kind: "image", "series" or "tabular" (the input layout).
        apply: the transform, random parameters drawn from ``gen``.
        strength: a strength at which it changes the inputs.
        identity: the strength at which it is the identity, or None.
        random: whether the output depends on the generator.
        bounds: the range of the outputs for inputs in [0, 1] (None: unbounded side), or None.
    """

    name: str
    kind: str
    apply: Apply
    strength: float
    identity: float | None
    random: bool = True
    bounds: tuple[float | None, float | None] | None = (0.0, 1.0)


def fixed(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> Apply:
    """A transform without random draws, as an ``Apply``."""
    return lambda x, s, _: fn(x, s)


def _std_tensor_noise(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return common.gaussian_noise(x, x.std(-1, keepdim=True), g, s)


def _translate(x: torch.Tensor, s: float, _: torch.Generator) -> torch.Tensor:
    return common.translate_steps(x, int(s))


def _mask(x: torch.Tensor, s: float, g: torch.Generator, axes: int) -> torch.Tensor:
    """Mask a random window of side ``s`` on the last ``axes`` axes."""
    size = int(s)
    starts = torch.randint(0, min(x.shape[-axes:]) - size + 1, (len(x), axes), generator=g)
    return common.mask_window(x, starts, (size,) * axes)


def _rotate_translate(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    degrees = s * (2 * torch.rand(len(x), generator=g) - 1)
    shift = s / 100 * (2 * torch.rand(len(x), 2, generator=g) - 1)
    return image.affine(x, degrees, shift)


def _contrast(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    factor = 1 - s * torch.rand(len(x), 1, 1, 1, generator=g)
    return image.contrast(x, factor, per_channel=False)


def _resample(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    """Resample at the steps 0..T-1, each moved by up to ``s`` / 2."""
    t = x.shape[-1]
    return series.resample(
        x, torch.arange(float(t)) + s * (torch.rand(len(x), t, generator=g) - 0.5)
    )


def _time_warp(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    speed = series.random_curve(len(x), 1, x.shape[-1], 6, s, g, floor=0.1)[:, 0]
    return series.time_warp(x, speed)


def _magnitude_warp(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return common.scale(x, series.random_curve(*x.shape, 6, s, g, cubic=True).to(x.dtype))


def _window(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    t = x.shape[-1]
    start = s * (t - 1) * torch.rand(len(x), 1, generator=g)
    return series.window_slice(x, start, (1 - s) * (t - 1))


def _permute(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return series.permute_segments(x, torch.rand(len(x), int(s), generator=g).argsort(dim=1))


def _numeric_noise(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return common.gaussian_noise(x, s, g, where=tabular.numeric_columns(x.shape[1], GROUPS))


def _missing(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return tabular.missing_values(x, s, g, GROUPS)


def _missing_mean(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return tabular.missing_values(x, s, g, GROUPS, x.mean(0), drop_groups=False)


def _flip(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return tabular.category_flip(x, s, g, GROUPS)


CASES = [
    Case("gaussian_noise", "series", common.gaussian_noise, 0.1, 0.0, bounds=None),
    Case("gaussian_noise_std_tensor", "series", _std_tensor_noise, 0.5, 0.0, bounds=None),
    Case("poisson_noise", "image", common.poisson_noise, 5.0, None, bounds=(0.0, None)),
    Case("scale", "series", fixed(common.scale), 0.5, 1.0, random=False),
    Case("translate_steps", "series", _translate, 3, 0, random=False),
    Case("mask_segment", "series", lambda x, s, g: _mask(x, s, g, 1), 4, 0),
    Case("mask_patch", "image", lambda x, s, g: _mask(x, s, g, 2), 3, 0),
    Case("rotate", "image", fixed(image.affine), 30.0, 0.0, random=False),
    Case("rotate_translate_per_image", "image", _rotate_translate, 20.0, 0.0),
    Case("hflip", "image", lambda x, _, __: image.hflip(x), 0.0, None, random=False),
    Case("vflip", "image", lambda x, _, __: image.vflip(x), 0.0, None, random=False),
    Case("contrast_per_channel", "image", fixed(image.contrast), 0.5, 1.0, random=False),
    Case("contrast_per_image", "image", _contrast, 0.5, 0.0),
    Case("brightness", "image", fixed(image.brightness), 0.2, 0.0, random=False, bounds=None),
    Case("gaussian_blur", "image", fixed(image.gaussian_blur), 1.0, 0.01, random=False),
    Case("pixelate", "image", fixed(image.pixelate), 0.5, None, random=False),
    Case("resample", "series", _resample, 0.8, 0.0),
    Case("time_warp", "series", _time_warp, 0.4, 0.0),
    Case("magnitude_warp", "series", _magnitude_warp, 0.3, 0.0, bounds=None),
    Case("window_slice", "series", _window, 0.3, 0.0),
    Case("permute_segments", "series", _permute, 4, 1),
    Case("numeric_noise", "tabular", _numeric_noise, 0.3, 0.0, bounds=None),
    Case("missing_values", "tabular", _missing, 0.3, 0.0),
    Case("missing_values_mean_fill", "tabular", _missing_mean, 0.3, 0.0),
    Case("category_flip", "tabular", _flip, 0.5, 0.0),
]
IDS = [c.name for c in CASES]


def inputs(kind: str, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """Inputs in [0, 1]; tabular rows have two numeric columns and the one-hot GROUPS."""
    g = torch.Generator().manual_seed(seed)
    shape = SHAPES[kind]
    if kind != "tabular":
        return torch.rand(shape, generator=g, dtype=dtype)
    n = shape[0]
    cols = [torch.rand(n, 2, generator=g, dtype=dtype)]
    for group in GROUPS:
        pick = torch.randint(0, len(group), (n,), generator=g)
        cols.append(torch.nn.functional.one_hot(pick, len(group)).to(dtype))
    return torch.cat(cols, dim=1)


def run(case: Case, x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    return case.apply(x, strength, torch.Generator().manual_seed(seed))


def assert_one_hot(out: torch.Tensor) -> None:
    for group in GROUPS:
        block = out[:, list(group)]
        assert bool(((block == 0) | (block == 1)).all()) and bool((block.sum(1) <= 1).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shape_dtype_and_bounds_are_kept(case: Case, dtype: torch.dtype) -> None:
    x = inputs(case.kind, dtype)
    out = run(case, x, case.strength)
    assert out.shape == x.shape and out.dtype == dtype and bool(torch.isfinite(out).all())
    assert not torch.equal(out, x), "the strength must change something"
    if case.bounds is not None:
        low, high = case.bounds
        assert low is None or float(out.min()) >= low - 1e-6
        assert high is None or float(out.max()) <= high + 1e-6
    if case.kind == "tabular":
        assert_one_hot(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.identity is not None], ids=lambda c: str(c.name)
)
def test_zero_strength_is_the_identity(case: Case, dtype: torch.dtype) -> None:
    assert case.identity is not None
    x = inputs(case.kind, dtype)
    out = run(case, x, case.identity)
    assert out is not x, "a transform returns a new tensor"
    # Curves and time positions are float32, so float64 inputs are kept to float32 precision.
    torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_seeded_and_the_global_stream_untouched(case: Case) -> None:
    x = inputs(case.kind)
    before = torch.random.get_rng_state()
    first = run(case, x, case.strength, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before), "the global RNG was used"
    assert torch.equal(first, run(case, x, case.strength, seed=1))
    assert torch.equal(first, run(case, x, case.strength, seed=2)) != case.random


# ---------------------------------------------------------------- oracles: images


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quarter_turns_are_rot90(dtype: torch.dtype) -> None:
    x = torch.rand(2, 3, 8, 8, dtype=dtype)
    for k in (-1, 1, 2, 4):
        # counter-clockwise as displayed (row 0 at the top): torch.rot90 with positive k
        assert torch.equal(image.affine(x, 90.0 * k), torch.rot90(x, k, dims=(2, 3)))
    odd = torch.rand(2, 1, 9, 9, dtype=dtype)
    torch.testing.assert_close(image.affine(odd, 90.0), torch.rot90(odd, 1, dims=(2, 3)))
    wide = torch.rand(2, 1, 4, 6, dtype=dtype)
    out = image.affine(wide, -90.0)
    torch.testing.assert_close(out[..., 1:5], torch.rot90(wide[..., 1:5], -1, dims=(2, 3)))
    assert bool((out[..., [0, 5]] == 0).all())


def test_per_image_angles_match_the_shared_angle_and_shifts_move_whole_pixels() -> None:
    x = torch.rand(3, 2, 7, 9)
    angles = torch.tensor([-25.0, 0.0, 40.0])
    per_image = image.affine(x, angles)
    for i, a in enumerate(angles.tolist()):
        torch.testing.assert_close(per_image[i], image.affine(x[i : i + 1], a)[0])
    one_pixel = torch.tensor([[1 / 9, 0.0]] * 3)  # a ninth of the width
    for angle in (torch.zeros(3), 0.0):
        torch.testing.assert_close(image.affine(x, angle, one_pixel), common.translate_steps(x, 1))
    down = image.affine(x, 0.0, torch.tensor([[0.0, 1 / 7]] * 3))  # a seventh of the height
    torch.testing.assert_close(down, common.translate_steps(x.mT, 1).mT)


def test_contrast_zero_gives_the_mean_and_blur_keeps_the_mean_of_a_flat_image() -> None:
    x = torch.rand(2, 3, 5, 5)
    flat = image.contrast(x, 0.0)
    torch.testing.assert_close(flat, x.mean(dim=(2, 3), keepdim=True).expand_as(x))
    grey = torch.full((1, 2, 6, 6), 0.3)
    torch.testing.assert_close(image.gaussian_blur(grey, 1.5), grey)


def test_poisson_noise_is_unbiased() -> None:
    x = torch.full((20000,), 0.4)
    out = common.poisson_noise(x, 50.0, torch.Generator().manual_seed(0))
    assert abs(float(out.mean()) - 0.4) < 0.01
    assert abs(float(out.var()) - 0.4 / 50) < 0.001  # Poisson: variance = mean / rate


def test_noise_std_tensor_sets_each_channel_std() -> None:
    x = torch.zeros(4, 2, 5000)
    std = torch.tensor([0.5, 3.0]).view(1, 2, 1)
    out = common.gaussian_noise(x, std, torch.Generator().manual_seed(0), strength=2.0)
    measured = out.std(dim=(0, 2))
    torch.testing.assert_close(measured, torch.tensor([1.0, 6.0]), rtol=0.02, atol=0.0)


# ---------------------------------------------------------------- oracles: series


def test_resample_at_integer_positions_is_indexing() -> None:
    x = inputs("series", seed=1)
    index = torch.randint(0, 16, (4, 30), generator=torch.Generator().manual_seed(0))
    out = series.resample(x, index.float())
    assert torch.equal(out, x.gather(2, index[:, None, :].expand(4, 2, 30)))


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(1, 40),
    n_out=st.integers(1, 40),
    seed=st.integers(0, 2**31),
    double=st.booleans(),
)
def test_resample_is_np_interp(t: int, n_out: int, seed: int, double: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, t, generator=g, dtype=torch.float64 if double else torch.float32)
    pos = torch.rand(2, n_out, generator=g) * (t + 1) - 1  # a little outside [0, T - 1] too
    out = series.resample(x, pos)
    assert out.dtype == x.dtype and out.shape == (2, 3, n_out)
    for i, j in itertools.product(range(2), range(3)):
        ref = np.interp(pos[i].double().numpy(), np.arange(t), x[i, j].double().numpy())
        np.testing.assert_allclose(out[i, j].double().numpy(), ref, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(2, 50), seed=st.integers(0, 2**31), std=st.floats(0.0, 2.0))
def test_warp_positions_are_monotone_with_fixed_ends(t: int, seed: int, std: float) -> None:
    speed = series.random_curve(3, 1, t, 6, std, torch.Generator().manual_seed(seed), floor=0.1)
    pos = series.warp_positions(speed[:, 0])
    assert bool((pos.diff(dim=1) > 0).all())
    assert bool((pos[:, 0] == 0).all()) and bool((pos[:, -1] == t - 1).all())


def test_constant_speed_is_no_warp() -> None:
    x = inputs("series", torch.float64)
    for level in (0.3, 1.0, 7.0):
        out = series.time_warp(x, torch.full((4, 16), level))
        torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)


def test_random_curve_is_linear_or_smooth_between_knots() -> None:
    g = torch.Generator().manual_seed(0)
    linear = series.random_curve(2, 1, 51, 6, 0.5, g)  # knots every 10 steps
    assert bool((linear.diff(n=2, dim=-1)[..., [9, 19, 29, 39]].abs() > 0).any())
    inside = [i for i in range(49) if i % 10 != 9]
    torch.testing.assert_close(linear.diff(n=2, dim=-1)[..., inside], torch.zeros(2, 1, 45))
    smooth = series.random_curve(2, 1, 51, 6, 0.5, g, cubic=True)
    assert float(smooth.diff(n=2, dim=-1).abs().max()) < float(linear.diff(dim=-1).abs().max())


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 30), k=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_permute_segments_moves_whole_segments(t: int, k: int, seed: int) -> None:
    k = min(k, t)
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(float(t)).expand(2, 1, t)
    order = torch.rand(2, k, generator=g).argsort(dim=1)
    out = series.permute_segments(x, order)
    edges = [0, *itertools.accumulate(t // k + (i < t % k) for i in range(k))]
    for row in range(2):
        expect = torch.cat([x[row, :, edges[s] : edges[s + 1]] for s in order[row].tolist()], 1)
        assert torch.equal(out[row], expect)


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(-12, 12), t=st.integers(1, 10))
def test_translate_steps_is_a_zero_filled_roll(steps: int, t: int) -> None:
    x = torch.arange(1.0, t + 1).expand(2, 3, t)
    out = common.translate_steps(x, steps)
    ref = np.zeros(t)
    for i in range(t):
        if 0 <= i - steps < t:
            ref[i] = x[0, 0, i - steps]
    assert np.array_equal(out[1, 2].numpy(), ref)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 20), size=st.integers(0, 20), seed=st.integers(0, 2**31))
def test_mask_window_zeroes_exactly_the_window(t: int, size: int, seed: int) -> None:
    size = min(size, t)
    x = torch.ones(5, 2, t)
    start = torch.randint(0, t - size + 1, (5, 1), generator=torch.Generator().manual_seed(seed))
    out = common.mask_window(x, start, (size,))
    assert bool(((out == 0).sum(dim=-1) == size).all())
    for i in range(5):
        s = int(start[i])
        assert bool((out[i, :, s : s + size] == 0).all())


# ---------------------------------------------------------------- oracles: tabular


def test_tabular_edits_touch_only_their_columns() -> None:
    x = inputs("tabular")
    g = torch.Generator().manual_seed(0)
    numeric = tabular.numeric_columns(7, GROUPS)
    assert numeric.tolist() == [True, True, False, False, False, False, False]
    flipped = tabular.category_flip(x, 1.0, g, GROUPS)
    assert torch.equal(flipped[:, :2], x[:, :2])
    for group in GROUPS:
        cols = list(group)
        assert bool((flipped[:, cols] != x[:, cols]).any(dim=1).all()), "p = 1 flips every row"
    noisy = _numeric_noise(x, 1.0, g)
    assert torch.equal(noisy[:, 2:], x[:, 2:]) and not torch.equal(noisy[:, :2], x[:, :2])
    mean = torch.full((7,), 0.5)
    filled = tabular.missing_values(x, 1.0, g, GROUPS, mean, drop_groups=False)
    assert bool((filled[:, :2] == 0.5).all()) and torch.equal(filled[:, 2:], x[:, 2:])
    gone = tabular.missing_values(x, 1.0, g, GROUPS)
    assert bool((gone == 0).all())
