"""Transform shifts of the test split: rotation, gaussian noise, scaling and translation.

Every shift keeps the shape and dtype of the inputs and clamps them to the modality bounds.
The transforms themselves live in :mod:`fivefold.transforms`; this module picks them by name,
keeps one-hot columns valid and clamps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fivefold.data.config import ShiftConfig
from fivefold.data.task import Inputs, ModalityInfo, Split
from fivefold.errors import ConfigError
from fivefold.seeding import torch_generator
from fivefold.transforms import common, image

__all__ = ["SHIFT_MODALITIES", "add_noise", "apply_shifts", "rotate", "scale", "translate"]

SHIFT_MODALITIES: dict[str, tuple[str, ...]] = {
    "rotation": ("image",),
    "noise": ("image", "sequence", "tabular"),
    "scaling": ("image", "sequence", "tabular"),
    "translation": ("image", "sequence"),
}


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate images counter-clockwise (as displayed) about their centre, zero fill.

    At multiples of 90° this is ``torch.rot90`` (see :func:`fivefold.transforms.image.affine`).

    Args:
        x: (N, C, H, W) images.
        degrees: rotation angle.

    Returns:
        (N, C, H, W) rotated images (bilinear interpolation).
    """
    return image.affine(x, float(degrees))


def translate(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Shift along the last axis (image width or time) by ``steps``, zero fill.

    Args:
        x: (..., T) inputs.
        steps: positive moves content right / later, negative left / earlier.

    Returns:
        (..., T) shifted inputs.
    """
    return common.translate_steps(x, steps)


def _feature_std(x: torch.Tensor) -> torch.Tensor:
    """Std of every feature/channel (dim 1) over all other dims, broadcastable to ``x``."""
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
    return x.std(dim=dims).reshape(shape) if len(x) > 1 else torch.ones(shape, dtype=x.dtype)


def add_noise(
    x: torch.Tensor, strength: float, bounds: tuple[float, float] | None, gen: torch.Generator
) -> torch.Tensor:
    """Add gaussian noise with std ``strength`` times the input range (or each feature std).

    Args:
        x: (N, ...) inputs.
        strength: std in units of ``high - low`` of ``bounds``, or of each feature's std.
        bounds: the valid input range, or None.
        gen: the noise generator.

    Returns:
        (N, ...) noisy inputs.
    """
    std = strength * (bounds[1] - bounds[0]) if bounds else strength * _feature_std(x)
    return common.gaussian_noise(x, std, gen)


def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply inputs by ``factor`` (a contrast / amplitude change)."""
    return common.scale(x, factor)


def _check(kind: str, strength: float, info: ModalityInfo) -> None:
    allowed = SHIFT_MODALITIES[kind]
    if info.kind not in allowed:
        raise ConfigError(
            f"data.shifts: {kind} does not apply to {info.kind} inputs; it needs "
            f"{', '.join(allowed)} inputs (remove it from data.shifts)"
        )
    if kind == "noise" and strength < 0:
        raise ConfigError(f"data.shifts: noise strength must be ≥ 0, got {strength}")


def _shift_tensor(
    x: torch.Tensor, info: ModalityInfo, kind: str, strength: float, gen: torch.Generator
) -> torch.Tensor:
    _check(kind, strength, info)
    if kind == "rotation":
        out = rotate(x, strength)
    elif kind == "translation":
        out = translate(x, int(strength))
    elif kind == "noise":
        out = add_noise(x, strength, info.bounds, gen)
    else:
        out = scale(x, strength)
    if info.kind == "tabular" and info.categorical:
        # One-hot columns keep their clean values so every row stays a valid encoding.
        onehot = [i for group in info.categorical for i in group]
        out[:, onehot] = x[:, onehot]
    if info.bounds is not None:
        out = out.clamp(*info.bounds)
    return out.to(x.dtype)


def shift_split(
    split: Split, inputs: Mapping[str, ModalityInfo], kind: str, strength: float, seed: int
) -> Split:
    """A copy of ``split`` with every input shifted (labels, groups and texts unchanged).

    Args:
        split: the clean split (usually the test split).
        inputs: modality info per input key.
        kind: "rotation", "noise", "scaling" or "translation".
        strength: degrees, std fraction, factor or steps.
        seed: seed of the noise generator.

    Returns:
        the shifted split.

    Raises:
        ConfigError: the shift does not fit an input's modality (e.g. text, rotation of a series).
    """
    gen = torch_generator(seed, "shift", kind, strength)
    x: Inputs
    if isinstance(split.x, dict):
        x = {k: _shift_tensor(v, inputs[k], kind, strength, gen) for k, v in split.x.items()}
    else:
        x = _shift_tensor(split.x, inputs["x"], kind, strength, gen)
    return Split(x, split.y, split.group, split.texts)


def apply_shifts(
    test: Split, inputs: Mapping[str, ModalityInfo], shifts: tuple[ShiftConfig, ...], seed: int
) -> dict[str, Split]:
    """One shifted copy of ``test`` per shift and strength, named e.g. "rotation=30".

    Raises:
        ConfigError: a shift does not fit the modality.
    """
    return {
        f"{s.kind}={strength:g}": shift_split(test, inputs, s.kind, strength, seed)
        for s in shifts
        for strength in s.strengths
    }
