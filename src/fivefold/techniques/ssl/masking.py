"""Masked modelling: exact-ratio masks for every modality and the reconstruction objective.

Masks choose a fixed number of *units* per sample — image patches, series segments, tabular
features (a one-hot categorical group counts as one feature) or real (non-padding) tokens — so
every sample hides exactly ``n_masked(n, ratio)`` of its ``n`` units. Masked numeric entries
are replaced by a learned per-channel (per-feature) mask value; masked tokens by the mask id
([MASK] for the MiniLM tokenizer, the unknown-word id otherwise).

The decoder reconstructs the whole input from the encoder's pooled (B, D) feature vector (an MLP
D → hidden → input size, as the small inputs here allow); the loss counts masked entries only:
mean squared error on standardised numeric values, cross-entropy over the vocabulary for tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import ModalityInfo

__all__ = [
    "MaskedModelling",
    "feature_units",
    "n_masked",
    "patch_mask",
    "segment_mask",
    "token_mask",
    "unit_mask",
]

TOKEN_WIDTH = 64
"""Width of the per-position vector the text decoder maps to vocabulary logits."""


def n_masked(n: int, ratio: float) -> int:
    """Units to mask out of ``n``: ``ratio · n`` rounded half up, at least 1, and below ``n``
    when ``n ≥ 2`` so that something stays visible."""
    if n <= 0:
        return 0
    k = math.floor(ratio * n + 0.5)
    return max(1, min(k, n - 1)) if n >= 2 else 1


def _rank_mask(scores: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(B, U) True at the ``counts[b]`` units of row b with the smallest scores."""
    ranks = scores.argsort(dim=1).argsort(dim=1)  # (B, U) rank of each unit
    return ranks < counts[:, None]


def unit_mask(batch: int, n_units: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(B, U) bool: exactly ``n_masked(U, ratio)`` units per row, chosen uniformly."""
    scores = torch.rand(batch, n_units, generator=generator)
    counts = torch.full((batch,), n_masked(n_units, ratio), dtype=torch.int64)
    return _rank_mask(scores, counts)


def patch_mask(
    batch: int, size: tuple[int, int], patch: int, ratio: float, generator: torch.Generator
) -> torch.Tensor:
    """(B, H, W) bool mask of whole ``patch × patch`` cells (edge cells may be smaller).

    Exactly ``n_masked(cells, ratio)`` of the ``ceil(H/p) · ceil(W/p)`` cells are masked.
    """
    height, width = size
    rows, cols = math.ceil(height / patch), math.ceil(width / patch)
    cells = unit_mask(batch, rows * cols, ratio, generator).view(batch, rows, cols)
    full = cells.repeat_interleave(patch, dim=1).repeat_interleave(patch, dim=2)
    return full[:, :height, :width]


def segment_mask(
    batch: int, length: int, patch: int, ratio: float, generator: torch.Generator
) -> torch.Tensor:
    """(B, T) bool mask of whole segments of ``patch`` time steps (the last may be shorter)."""
    segments = unit_mask(batch, math.ceil(length / patch), ratio, generator)
    return segments.repeat_interleave(patch, dim=1)[:, :length]


def token_mask(ids: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(B, L) bool mask of ``n_masked(n_b, ratio)`` of the ``n_b`` real tokens of each text.

    Padding (id 0) is never masked; an empty text gets no mask.
    """
    real = ids != 0
    scores = torch.rand(ids.shape, generator=generator).masked_fill(~real, 2.0)
    lengths = real.sum(dim=1)
    counts = torch.tensor([n_masked(int(n), ratio) for n in lengths], dtype=torch.int64)
    return _rank_mask(scores, counts) & real


def feature_units(info: ModalityInfo) -> torch.Tensor:
    """(F,) unit id of every tabular column: one per numeric column, one per one-hot group."""
    n_features = info.shape[0]
    unit = torch.full((n_features,), -1, dtype=torch.int64)
    for g, group in enumerate(info.categorical):
        unit[list(group)] = g
    numeric = unit < 0
    offset = len(info.categorical)
    unit[numeric] = offset + torch.arange(int(numeric.sum()))
    return unit


def input_mask(
    x: torch.Tensor,
    info: ModalityInfo,
    ratio: float,
    patch: int,
    units: torch.Tensor | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """A bool mask with the shape of ``x`` (B, ...) for one input of kind ``info.kind``.

    Images mask patches over all channels, series mask time segments over all channels,
    tabular inputs mask features (``units`` maps columns to features), text masks tokens.
    """
    batch = len(x)
    if info.kind == "image":
        cells = patch_mask(batch, (x.shape[2], x.shape[3]), patch, ratio, generator)
        return cells[:, None].expand_as(x)
    if info.kind == "sequence":
        steps = segment_mask(batch, x.shape[2], patch, ratio, generator)
        return steps[:, None].expand_as(x)
    if info.kind == "tabular":
        assert units is not None
        chosen = unit_mask(batch, int(units.max()) + 1, ratio, generator)
        return chosen[:, units].reshape(x.shape)
    return token_mask(x, ratio, generator)


class MaskedModelling(nn.Module):
    """The masked-modelling objective: mask, encode, decode from the (B, D) features, score.

    Args:
        infos: ModalityInfo of every input, by input name (one entry for a plain tensor).
        stats: (mean, std) per input for numeric inputs, broadcastable to (1, ...) of the input;
            reconstruction targets are standardised with them.
        feature_dim: D of the encoder's output.
        hidden: width of the decoders' hidden layer.
        ratio: share of units to mask.
        patch: patch side (images) or segment length (series).
        mask_id: token id that replaces masked tokens.
    """

    def __init__(
        self,
        infos: dict[str, ModalityInfo],
        stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
        feature_dim: int,
        hidden: int,
        ratio: float,
        patch: int,
        mask_id: int,
    ) -> None:
        super().__init__()
        self.keys = tuple(infos)
        self.infos = infos
        self.ratio, self.patch, self.mask_id = ratio, patch, mask_id
        self.decoders = nn.ModuleDict()
        self.vocab = nn.ModuleDict()
        self.mask_values = nn.ParameterDict()
        for i, (key, info) in enumerate(infos.items()):
            name = f"input{i}"
            if info.kind == "text":
                out = info.shape[0] * TOKEN_WIDTH
                self.vocab[name] = nn.Linear(TOKEN_WIDTH, info.vocab_size)
            else:
                out = math.prod(info.shape)
                mean, std = stats[key]
                self.register_buffer(f"{name}_mean", mean.float())
                self.register_buffer(f"{name}_std", std.float().clamp(min=1e-6))
                channels = info.shape[0] if info.kind in ("image", "sequence") else out
                self.mask_values[name] = nn.Parameter(torch.zeros(channels))
            self.decoders[name] = nn.Sequential(
                nn.Linear(feature_dim, hidden), nn.GELU(), nn.Linear(hidden, out)
            )
        self.units = {k: feature_units(info) for k, info in infos.items() if info.kind == "tabular"}

    def forward(
        self, encoder: nn.Module, x: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """The mean masked-reconstruction loss over inputs of the batch ``x``."""
        masks = {
            k: input_mask(x[k], self.infos[k], self.ratio, self.patch, self.units.get(k), generator)
            for k in self.keys
        }
        corrupted = {k: self._corrupt(i, k, x[k], masks[k]) for i, k in enumerate(self.keys)}
        features = encoder(corrupted if len(self.keys) > 1 else corrupted[self.keys[0]])
        losses = [self._score(i, k, features, x[k], masks[k]) for i, k in enumerate(self.keys)]
        return torch.stack(losses).mean()

    def _corrupt(self, i: int, key: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.infos[key].kind == "text":
            return x.masked_fill(mask, self.mask_id)
        value = self.mask_values[f"input{i}"]
        shape = (1, -1) + (1,) * (x.dim() - 2)  # per channel (B, C, ...) or per feature (B, F)
        return torch.where(mask, value.view(shape).to(x.dtype), x)

    def _score(
        self, i: int, key: str, features: torch.Tensor, x: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        name = f"input{i}"
        out: torch.Tensor = self.decoders[name](features)  # (B, prod(shape)) or (B, L·TOKEN_WIDTH)
        if self.infos[key].kind == "text":
            per_token = out.view(len(x), x.shape[1], TOKEN_WIDTH)  # (B, L, TOKEN_WIDTH)
            if not bool(mask.any()):
                return out.sum() * 0.0
            # vocabulary logits at the masked positions only: (M, V), M = masked tokens
            logits: torch.Tensor = self.vocab[name](per_token[mask])
            loss: torch.Tensor = F.cross_entropy(logits, x[mask])
            return loss
        target = (x.float() - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")
        weight = mask.float()
        squared: torch.Tensor = (out.view_as(target) - target).pow(2) * weight
        return squared.sum() / weight.sum().clamp(min=1.0)
