"""Natural corruptions of image, sequence and tabular inputs, each at severities 1..5.

Every registered corruption has the signature ``(x, severity, gen, info) -> x``, works on a
whole batch at once, keeps shape and dtype, respects ``info.bounds`` and returns a copy of
``x`` at severity 0. Image corruptions run in units of the input range, so the severity
parameters below (given for [0, 1] inputs) fit any bounds. Randomness comes only from ``gen``
(see :func:`fivefold.seeding.torch_generator`), so the same seed gives the same output. The
functions here draw the random parameters (angles, signs, patch corners) and apply the shared
transforms of :mod:`fivefold.transforms`.

Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019 (ImageNet-C / CIFAR-10-C); Mu & Gilmer,
"MNIST-C: A Robustness Benchmark for Computer Vision", 2019.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from fivefold.data.task import ModalityInfo
from fivefold.pillars.robustness import corruptions_signal as signal
from fivefold.transforms import common, image

__all__ = [
    "CORRUPTIONS",
    "SEVERITY_PARAMETERS",
    "Corruption",
    "corrupt",
    "corruption_names",
]

Corruption = Callable[[torch.Tensor, int, torch.Generator, ModalityInfo], torch.Tensor]
"""``(x (N, ...), severity 0..5, generator, modality info) -> corrupted x (N, ...)``."""

MAX_SEVERITY = 5

# One parameter per severity 1..5; units in each function's docstring.
SEVERITY_PARAMETERS: dict[str, dict[str, tuple[float, ...]]] = {
    "image": {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),  # std, ImageNet-C
        "shot_noise": (60.0, 25.0, 12.0, 5.0, 3.0),  # photons per unit, ImageNet-C
        "gaussian_blur": (0.5, 0.75, 1.0, 1.5, 2.0),  # sigma in pixels (x size/64 if > 64)
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # contrast factor, CIFAR-10-C
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),  # added level, ImageNet-C
        "pixelate": (0.85, 0.75, 0.6, 0.5, 0.4),  # resolution factor, CIFAR-10-C..ImageNet-C
        "rotation": (10.0, 20.0, 30.0, 45.0, 60.0),  # degrees, random sign
        "translation": (0.06, 0.12, 0.18, 0.24, 0.3),  # fraction of the size, random direction
        "occlusion": (0.2, 0.3, 0.4, 0.5, 0.6),  # patch side, fraction of the shorter side
    },
    "sequence": {
        "gaussian_noise": (0.1, 0.2, 0.35, 0.5, 0.75),  # std, fraction of each series' std
        "scaling": (0.1, 0.2, 0.3, 0.4, 0.5),  # factor 1 ± s per series and channel
        "time_warp": (0.05, 0.1, 0.2, 0.3, 0.4),  # std of the local speed around 1
        "masking": (0.05, 0.1, 0.2, 0.3, 0.4),  # fraction of the time steps zeroed
        "baseline_drift": (0.2, 0.4, 0.6, 0.8, 1.0),  # drift amplitude, fraction of std
    },
    "tabular": {
        "gaussian_noise": (0.1, 0.2, 0.4, 0.6, 1.0),  # std in standardised units
        "category_flip": (0.05, 0.1, 0.2, 0.3, 0.5),  # flip probability per group
        "missing_values": (0.05, 0.1, 0.2, 0.3, 0.5),  # missing probability per feature
    },
}

CORRUPTIONS: dict[str, dict[str, Corruption]] = {kind: {} for kind in SEVERITY_PARAMETERS}
"""Modality kind → corruption name → function (text corruptions live in ``text_corruptions``)."""

_Raw = Callable[[torch.Tensor, float, torch.Generator, ModalityInfo], torch.Tensor]


def _register(kind: str, name: str) -> Callable[[_Raw], _Raw]:
    """Register ``fn(x, parameter, gen, info)`` as corruption ``name`` of modality ``kind``."""

    def add(fn: _Raw) -> _Raw:
        CORRUPTIONS[kind][name] = _safe(fn, SEVERITY_PARAMETERS[kind][name], kind == "image")
        return fn

    return add


def _safe(fn: _Raw, params: tuple[float, ...], unit: bool) -> Corruption:
    """Add the contract: severity check, identity at 0, unit range for images, bounds, dtype."""

    def corruption(
        x: torch.Tensor, severity: int, gen: torch.Generator, info: ModalityInfo
    ) -> torch.Tensor:
        if not 0 <= severity <= MAX_SEVERITY:
            raise ValueError(f"severity must be in 0..{MAX_SEVERITY}, got {severity}")
        if severity == 0 or len(x) == 0:
            return x.clone()
        low, high = info.bounds or (float(x.min()), float(x.max()))
        span = max(high - low, 1e-12)
        z = (x.float() - low) / span if unit else x.float()
        out = fn(z, params[severity - 1], gen, info)
        out = out * span + low if unit else out
        return (out.clamp(low, high) if info.bounds or unit else out).to(x.dtype)

    corruption.__doc__ = fn.__doc__
    return corruption


def corrupt(
    x: torch.Tensor, info: ModalityInfo, name: str, severity: int, gen: torch.Generator
) -> torch.Tensor:
    """Corrupt one input tensor; inputs whose modality lacks ``name`` come back unchanged.

    Args:
        x: (N, ...) inputs of modality ``info.kind``.
        info: the modality (kind, bounds, one-hot groups).
        name: corruption name, e.g. "gaussian_noise".
        severity: 0 (identity) to 5.
        gen: the random generator.

    Returns:
        (N, ...) corrupted inputs, same dtype.
    """
    fn = CORRUPTIONS.get(info.kind, {}).get(name)
    return x.clone() if fn is None else fn(x, severity, gen, info)


def corruption_names(inputs: Mapping[str, ModalityInfo]) -> list[str]:
    """Names of the corruptions that apply to at least one of ``inputs``, in table order."""
    names: list[str] = []
    for info in inputs.values():
        names += [n for n in CORRUPTIONS.get(info.kind, {}) if n not in names]
    return names


# ---------------------------------------------------------------- images (N, C, H, W) in [0, 1]


@_register("image", "gaussian_noise")
def _image_gaussian_noise(
    x: torch.Tensor, std: float, gen: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Additive gaussian noise of std ``std``. Reference: Hendrycks & Dietterich 2019."""
    return common.gaussian_noise(x, std, gen)


@_register("image", "shot_noise")
def _shot_noise(
    x: torch.Tensor, rate: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Poisson noise: ``Poisson(x · rate) / rate``. Reference: Hendrycks & Dietterich 2019."""
    return common.poisson_noise(x.clamp(0, 1), rate, gen)


@_register("image", "gaussian_blur")
def _gaussian_blur(
    x: torch.Tensor, sigma: float, _: torch.Generator, info: ModalityInfo
) -> torch.Tensor:
    """Separable gaussian blur, edge padding. Reference: Hendrycks & Dietterich 2019."""
    # The severities are set for 64-pixel images; larger ones blur proportionally more.
    return image.gaussian_blur(x, sigma * max(1.0, max(x.shape[-2:]) / 64))


@_register("image", "contrast")
def _contrast(x: torch.Tensor, factor: float, _: torch.Generator, __: ModalityInfo) -> torch.Tensor:
    """Shrink towards each image's channel means. Reference: Hendrycks & Dietterich 2019."""
    return image.contrast(x, factor, per_channel=True)


@_register("image", "brightness")
def _brightness(
    x: torch.Tensor, level: float, _: torch.Generator, __: ModalityInfo
) -> torch.Tensor:
    """Add ``level`` to every channel (the V of HSV for grey images).

    Reference: Hendrycks & Dietterich 2019.
    """
    return image.brightness(x, level)


@_register("image", "pixelate")
def _pixelate(x: torch.Tensor, factor: float, _: torch.Generator, __: ModalityInfo) -> torch.Tensor:
    """Downsample to ``factor`` x the size (antialiased), then nearest-upsample back.

    Reference: Hendrycks & Dietterich 2019.
    """
    return image.pixelate(x, factor)


def _random_sign(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1


@_register("image", "rotation")
def _rotation(
    x: torch.Tensor, degrees: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Rotate by ± ``degrees`` (random sign per image). Reference: Mu & Gilmer 2019."""
    n = len(x)
    return image.affine(x, degrees * _random_sign(n, gen), torch.zeros(n, 2))


@_register("image", "translation")
def _translation(
    x: torch.Tensor, fraction: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Shift by ``fraction`` of the size in a random direction. Reference: Mu & Gilmer 2019."""
    angle = torch.rand(len(x), generator=gen) * 2 * math.pi
    shift = fraction * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return image.affine(x, torch.zeros(len(x)), shift)


@_register("image", "occlusion")
def _occlusion(
    x: torch.Tensor, fraction: float, gen: torch.Generator, _: ModalityInfo
) -> torch.Tensor:
    """Set a random square patch (side ``fraction`` x shorter side) to the low bound.

    Reference: DeVries & Taylor, "Improved Regularization of CNNs with Cutout", 2017.
    """
    n, _c, h, w = x.shape
    side = max(1, round(fraction * min(h, w)))
    top = torch.randint(0, h - side + 1, (n, 1), generator=gen)
    left = torch.randint(0, w - side + 1, (n, 1), generator=gen)
    return common.mask_window(x, torch.cat([top, left], dim=1), (side, side))


for _kind, _name, _fn in (
    ("sequence", "gaussian_noise", signal.series_gaussian_noise),
    ("sequence", "scaling", signal.scaling),
    ("sequence", "time_warp", signal.time_warp),
    ("sequence", "masking", signal.masking),
    ("sequence", "baseline_drift", signal.baseline_drift),
    ("tabular", "gaussian_noise", signal.tabular_gaussian_noise),
    ("tabular", "category_flip", signal.category_flip),
    ("tabular", "missing_values", signal.missing_values),
):
    _register(_kind, _name)(_fn)
