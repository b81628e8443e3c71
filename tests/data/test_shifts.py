"""Transform shifts: shape, dtype and bounds preserved; exact checks against torch ops."""

from __future__ import annotations

import pytest
import torch

from fivefold.data import ModalityInfo, ShiftConfig, Split
from fivefold.data.shifts import apply_shifts, rotate, shift_split, translate
from fivefold.errors import ConfigError

IMAGE = {"x": ModalityInfo(kind="image", shape=(2, 9, 9), bounds=(0.0, 1.0))}
SEQUENCE = {"x": ModalityInfo(kind="sequence", shape=(3, 20))}
TABULAR = {
    "x": ModalityInfo(
        kind="tabular", shape=(4,), categorical=((2, 3),), feature_names=tuple("abcd")
    )
}
TEXT = {"x": ModalityInfo(kind="text", shape=(5,), vocab_size=10)}
KINDS = {"rotation": 30.0, "noise": 0.1, "scaling": 1.5, "translation": 2.0}


def _images(n: int = 6) -> Split:
    x = torch.rand(n, 2, 9, 9, generator=torch.Generator().manual_seed(0))
    return Split(x, torch.arange(n) % 2)


def _tabular() -> Split:
    gen = torch.Generator().manual_seed(1)
    onehot = torch.nn.functional.one_hot(torch.arange(8) % 2, 2).float()
    return Split(torch.cat([torch.randn(8, 2, generator=gen), onehot], 1), torch.arange(8) % 2)


@pytest.mark.parametrize("kind", list(KINDS))
def test_image_shifts_preserve_shape_dtype_bounds(kind: str) -> None:
    clean = _images()
    shifted = shift_split(clean, IMAGE, kind, KINDS[kind], seed=0)
    assert isinstance(shifted.x, torch.Tensor) and isinstance(clean.x, torch.Tensor)
    assert shifted.x.shape == clean.x.shape and shifted.x.dtype == torch.float32
    assert shifted.x.min() >= 0.0 and shifted.x.max() <= 1.0
    assert torch.equal(shifted.y, clean.y)
    assert not torch.equal(shifted.x, clean.x)


def test_rotation_by_zero_is_identity_and_by_90_is_rot90() -> None:
    x = _images().x
    assert isinstance(x, torch.Tensor)
    torch.testing.assert_close(rotate(x, 0.0), x)
    torch.testing.assert_close(rotate(x, 90.0), torch.rot90(x, 1, dims=(2, 3)))
    torch.testing.assert_close(rotate(x, -90.0), torch.rot90(x, -1, dims=(2, 3)))
    torch.testing.assert_close(rotate(x, 360.0), x)


def test_rotation_of_a_wide_image_rotates_its_centre_square() -> None:
    x = torch.rand(2, 1, 4, 6)
    out = rotate(x, 90.0)
    torch.testing.assert_close(out[..., 1:5], torch.rot90(x[..., 1:5], 1, dims=(2, 3)))
    assert (out[..., [0, 5]] == 0).all()


def test_translation_matches_roll_with_zero_fill() -> None:
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10) + 1
    out = translate(x, 3)
    torch.testing.assert_close(out[..., 3:], torch.roll(x, 3, dims=-1)[..., 3:])
    assert (out[..., :3] == 0).all()
    torch.testing.assert_close(translate(x, -2)[..., :8], x[..., 2:])
    assert (translate(x, 50) == 0).all()
    torch.testing.assert_close(translate(x, 0), x)


def test_noise_is_seeded_and_scaled_by_feature_std_when_unbounded() -> None:
    x = torch.randn(400, 3, 20, generator=torch.Generator().manual_seed(0)) * 5
    clean = Split(x, torch.zeros(400, dtype=torch.int64))
    a = shift_split(clean, SEQUENCE, "noise", 0.2, seed=1)
    b = shift_split(clean, SEQUENCE, "noise", 0.2, seed=1)
    c = shift_split(clean, SEQUENCE, "noise", 0.2, seed=2)
    assert isinstance(a.x, torch.Tensor) and isinstance(b.x, torch.Tensor)
    assert isinstance(c.x, torch.Tensor)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert abs(float((a.x - x).std()) - 1.0) < 0.05  # 0.2 x std 5


def test_tabular_shifts_leave_one_hot_columns_valid() -> None:
    clean = _tabular()
    assert isinstance(clean.x, torch.Tensor)
    for kind in ("noise", "scaling"):
        out = shift_split(clean, TABULAR, kind, 2.0, seed=0).x
        assert isinstance(out, torch.Tensor)
        torch.testing.assert_close(out[:, 2:], clean.x[:, 2:])
        assert not torch.equal(out[:, :2], clean.x[:, :2])


def test_multimodal_inputs_are_each_shifted() -> None:
    x = {"a": torch.randn(4, 3, 20), "b": torch.randn(4, 3, 20)}
    inputs = {"a": SEQUENCE["x"], "b": SEQUENCE["x"]}
    out = shift_split(Split(x, torch.zeros(4, dtype=torch.int64)), inputs, "scaling", 2.0, 0).x
    assert isinstance(out, dict)
    torch.testing.assert_close(out["a"], x["a"] * 2)
    torch.testing.assert_close(out["b"], x["b"] * 2)


def test_apply_shifts_names_one_split_per_strength() -> None:
    shifts = (ShiftConfig("rotation", (15.0, 30.0)), ShiftConfig("noise", (0.05,)))
    out = apply_shifts(_images(), IMAGE, shifts, seed=0)
    assert list(out) == ["rotation=15", "rotation=30", "noise=0.05"]


@pytest.mark.parametrize(
    ("inputs", "kind"),
    [(SEQUENCE, "rotation"), (TABULAR, "rotation"), (TABULAR, "translation")]
    + [(TEXT, kind) for kind in KINDS],
)
def test_shift_that_does_not_fit_the_modality_is_a_config_error(
    inputs: dict[str, ModalityInfo], kind: str
) -> None:
    split = Split(torch.zeros(2, *inputs["x"].shape), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ConfigError, match=f"{kind} does not apply to {inputs['x'].kind}"):
        shift_split(split, inputs, kind, 1.0, seed=0)
