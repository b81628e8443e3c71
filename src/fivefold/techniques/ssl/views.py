"""Batched, seeded view augmentations for SimCLR, one family per modality.

- images: random resized crop (area share in [crop_scale, 1], aspect ratio in [3/4, 4/3]),
  brightness and contrast jitter, Gaussian noise; clipped to the input bounds;
- series: crop-resize (a window of [crop_scale, 1] of the length stretched back to T),
  per-channel magnitude scaling and jitter noise (Um et al. 2017);
- tabular: SCARF corruption — a share of the features of each row takes the value of the same
  feature in a random row of the pool (a one-hot group is replaced as a whole);
- text: token dropout (to padding) and masking (to the mask id), half of the corrupted tokens
  each.

Noise and brightness are in units of the pool's per-channel standard deviation. Every draw
comes from the generator passed in, so a view depends only on it.

Reference: Chen et al., "A simple framework for contrastive learning of visual
representations", ICML 2020; Um et al., "Data augmentation of wearable sensor data for
Parkinson's disease monitoring using convolutional neural networks", ICMI 2017; Bahri et al.,
"SCARF: self-supervised contrastive learning using random feature corruption", ICLR 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fivefold.data.task import ModalityInfo

__all__ = ["ViewMaker", "image_view", "resized_crop", "series_view", "tabular_view", "text_view"]


def _uniform(shape: tuple[int, ...], low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def resized_crop(
    x: torch.Tensor, width: torch.Tensor, height: torch.Tensor, g: torch.Generator
) -> torch.Tensor:
    """Crop a random window of each (B, C, H, W) sample and resize it back to (H, W).

    Args:
        x: (B, C, H, W) inputs.
        width: (B,) crop width as a share of W, in (0, 1].
        height: (B,) crop height as a share of H, in (0, 1].
        g: draws the window positions.

    Returns:
        (B, C, H, W) bilinearly resampled crops.
    """
    batch = len(x)
    cx = (1 - width) * (2 * torch.rand(batch, generator=g) - 1)  # centre in normalised coords
    cy = (1 - height) * (2 * torch.rand(batch, generator=g) - 1)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def image_view(
    x: torch.Tensor,
    scale: torch.Tensor,
    bounds: tuple[float, float] | None,
    strength: ViewStrength,
    g: torch.Generator,
) -> torch.Tensor:
    """One random view of (B, C, H, W) images; ``scale`` is the (1, C, 1, 1) channel std."""
    batch = len(x)
    area = _uniform((batch,), strength.crop_scale, 1.0, g)
    aspect = torch.exp(_uniform((batch,), math.log(3 / 4), math.log(4 / 3), g))
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    out = resized_crop(x.float(), width, height, g)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform((batch, 1, 1, 1), 1 - strength.jitter, 1 + strength.jitter, g)
    brightness = _uniform((batch, 1, 1, 1), -strength.jitter, strength.jitter, g) * scale
    out = (out - mean) * contrast + mean + brightness
    out = out + strength.noise * scale * torch.randn(out.shape, generator=g)
    return out.clamp(*bounds) if bounds is not None else out


def series_view(
    x: torch.Tensor, scale: torch.Tensor, strength: ViewStrength, g: torch.Generator
) -> torch.Tensor:
    """One random view of (B, C, T) series; ``scale`` is the (1, C, 1) channel std."""
    batch, channels, _ = x.shape
    length = _uniform((batch,), strength.crop_scale, 1.0, g)
    # a 1-row image: crop along time only, keep the single row
    out = resized_crop(x.float()[:, :, None, :], length, torch.ones(batch), g)[:, :, 0]
    factor = 1 + strength.jitter * torch.randn(batch, channels, 1, generator=g)
    out = out * factor
    return out + strength.noise * scale * torch.randn(out.shape, generator=g)


def tabular_view(
    x: torch.Tensor, pool: torch.Tensor, units: torch.Tensor, rate: float, g: torch.Generator
) -> torch.Tensor:
    """SCARF: each feature of each row is, with probability ``rate``, replaced by that
    feature's value in a random row of ``pool`` (N, F); ``units`` (F,) maps columns to
    features so a one-hot group is replaced as a whole."""
    batch, n_units = len(x), int(units.max()) + 1
    corrupt = (torch.rand(batch, n_units, generator=g) < rate)[:, units]  # (B, F)
    donor = torch.randint(0, len(pool), (batch, n_units), generator=g)[:, units]  # (B, F)
    replacement = pool[donor, torch.arange(x.shape[1])[None, :]]  # (B, F)
    return torch.where(corrupt, replacement.to(x.dtype), x)


def text_view(ids: torch.Tensor, rate: float, mask_id: int, g: torch.Generator) -> torch.Tensor:
    """Each real token is, with probability ``rate``, dropped (→ 0) or masked (→ ``mask_id``)."""
    real = ids != 0
    draw = torch.rand(ids.shape, generator=g)
    dropped = real & (draw < rate / 2)
    masked = real & (draw >= rate / 2) & (draw < rate)
    return ids.masked_fill(dropped, 0).masked_fill(masked, mask_id)


@dataclass(frozen=True)
class ViewStrength:
    """How strong the numeric augmentations are (from the technique's options)."""

    crop_scale: float
    jitter: float
    noise: float
    corruption: float


class ViewMaker:
    """Makes one random view of a batch of inputs, by input name, for each input's modality.

    Args:
        infos: ModalityInfo of every input.
        pools: the pretraining pool of every input (SCARF draws replacement values from it).
        scales: per-channel (per-feature) std of every numeric input, shaped (1, C, ...).
        strength: the augmentation strengths.
        mask_id: the token id of masked tokens.
        units: (F,) feature id of every column of each tabular input.
    """

    def __init__(
        self,
        infos: dict[str, ModalityInfo],
        pools: dict[str, torch.Tensor],
        scales: dict[str, torch.Tensor],
        strength: ViewStrength,
        mask_id: int,
        units: dict[str, torch.Tensor],
    ) -> None:
        self.infos, self.pools, self.scales = infos, pools, scales
        self.strength, self.mask_id, self.units = strength, mask_id, units

    def __call__(self, x: dict[str, torch.Tensor], g: torch.Generator) -> dict[str, torch.Tensor]:
        return {k: self._one(k, v, g) for k, v in x.items()}

    def _one(self, key: str, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        info, s = self.infos[key], self.strength
        if info.kind == "image":
            return image_view(x, self.scales[key], info.bounds, s, g)
        if info.kind == "sequence":
            return series_view(x, self.scales[key], s, g)
        if info.kind == "tabular":
            return tabular_view(x, self.pools[key], self.units[key], s.corruption, g)
        return text_view(x, s.corruption, self.mask_id, g)
