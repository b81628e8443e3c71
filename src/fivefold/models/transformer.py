"""A small pre-norm Transformer encoder for sequences, images and text.

Inputs become tokens first: a sequence's time steps (or patches of ``sequence_patch`` steps), an
image's ``image_patch`` x ``image_patch`` patches, or text's token embeddings (with a padding
mask). A learned positional embedding is added, ``depth`` encoder layers follow, and the tokens
are pooled by a CLS token or a (masked) mean.

Reference: Vaswani et al., "Attention is all you need", NeurIPS 2017; Dosovitskiy et al.,
"An image is worth 16x16 words", ICLR 2021 (patch embedding, CLS pooling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import ModalityInfo, Task
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.inputs import (
    Encoder,
    InputAdapter,
    Standardize,
    fuse_inputs,
    require_kind,
)
from fivefold.schema import option

__all__ = ["TransformerBody", "TransformerConfig", "build_transformer"]


@dataclass(frozen=True)
class TransformerConfig:
    """Options of the ``transformer`` model."""

    dim: int = option(64, help="token width (d_model)", min=8)
    depth: int = option(2, help="number of encoder layers", min=1, max=24)
    heads: int = option(4, help="attention heads; must divide dim", min=1)
    mlp_ratio: float = option(2.0, help="feed-forward width as a multiple of dim", min=0.25)
    dropout: float = option(
        0.1, help="dropout in attention, feed-forward and embeddings", min=0.0, max=0.9
    )
    pooling: Literal["mean", "cls"] = option(
        "mean", help="features: mean over (non-padding) tokens, or a learned CLS token"
    )
    image_patch: int = option(4, help="patch side for images (4 → 2x2 patches on 8x8)", min=1)
    sequence_patch: int = option(1, help="time steps per token for sequences", min=1)
    input_norm: bool = option(
        True, help="standardise each sequence channel with the training split's mean and std"
    )

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")


class PatchEmbed(nn.Module):
    """(B, C, *S) image or sequence → (B, N, dim) tokens of non-overlapping patches.

    The input is zero-padded at the end of each spatial axis to a multiple of ``patch``.

    Args:
        shape: (C, H, W) or (C, T), the per-sample input shape.
        patch: patch side (images) or length (sequences).
        dim: token width.
        norm: applied to the input first (e.g. a :class:`Standardize`).
    """

    def __init__(
        self, shape: tuple[int, ...], patch: int, dim: int, norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        channels, *spatial = shape
        self.patch = patch
        self.n_tokens = math.prod(math.ceil(s / patch) for s in spatial)
        conv = nn.Conv2d if len(spatial) == 2 else nn.Conv1d
        self.norm = norm or nn.Identity()
        self.proj = conv(channels, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        x = self.norm(x)  # (B, C, *S)
        pad: list[int] = []
        for size in reversed(x.shape[2:]):
            pad += [0, -size % self.patch]
        x = F.pad(x, pad)  # (B, C, *S) with every S a multiple of patch
        tokens = self.proj(x).flatten(2).transpose(1, 2)  # (B, dim, *S/patch) → (B, N, dim)
        return tokens, None


class TokenEmbed(nn.Module):
    """(B, L) token ids → (B, L, dim) embeddings and the (B, L) padding mask (True = padding).

    Args:
        vocab_size: number of token ids (0 is padding).
        length: L.
        dim: token width.
    """

    def __init__(self, vocab_size: int, length: int, dim: int) -> None:
        super().__init__()
        self.n_tokens = length
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = ids == 0
        pad = pad & ~pad.all(dim=1, keepdim=True)  # an empty text attends to its padding
        return self.embed(ids), pad


class TransformerBody(nn.Module):
    """Tokens + positions → pre-norm Transformer encoder → pooled (B, dim) features.

    Args:
        tokens: a PatchEmbed or TokenEmbed producing (B, N, dim) tokens.
        config: the model options.
    """

    def __init__(self, tokens: PatchEmbed | TokenEmbed, config: TransformerConfig) -> None:
        super().__init__()
        self.tokens = tokens
        self.pooling = config.pooling
        n_positions = tokens.n_tokens + (config.pooling == "cls")
        self.cls = nn.Parameter(torch.zeros(1, 1, config.dim)) if config.pooling == "cls" else None
        self.pos = nn.Parameter(torch.zeros(1, n_positions, config.dim))
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.dim,
            config.heads,
            dim_feedforward=round(config.dim * config.mlp_ratio),
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos, std=0.02)
        if self.cls is not None:
            nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens: tuple[torch.Tensor, torch.Tensor | None] = self.tokens(x)
        h, pad = tokens  # (B, N, dim), padding mask (B, N) or None
        if self.cls is not None:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)  # (B, 1 + N, dim)
            if pad is not None:
                pad = F.pad(pad, (1, 0), value=False)  # the CLS token is never padding
        h = self.dropout(h + self.pos)
        h = self.norm(self.encoder(h, src_key_padding_mask=pad))  # (B, N', dim)
        return self._pool(h, pad)

    def _pool(self, h: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """(B, N, dim) tokens → (B, dim): the CLS token, or the mean of non-padding tokens."""
        if self.cls is not None:
            return h[:, 0]
        if pad is None:
            return h.mean(dim=1)
        keep = (~pad).unsqueeze(-1).to(h.dtype)  # (B, N, 1)
        return (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


def _tokens(
    info: ModalityInfo, config: TransformerConfig, adapter: InputAdapter, task: Task
) -> PatchEmbed | TokenEmbed:
    if info.kind == "text":
        return TokenEmbed(info.vocab_size, info.shape[0], config.dim)
    if info.kind == "image":  # already in known bounds
        return PatchEmbed(info.shape, config.image_patch, config.dim)
    norm = Standardize.fit(adapter, task) if config.input_norm else None
    return PatchEmbed(info.shape, config.sequence_patch, config.dim, norm)


def build_transformer(config: TransformerConfig, task: Task) -> Classifier:
    """A Transformer encoder whose tokens are patches (images, sequences) or words (text).

    Args:
        config: the model options.
        task: gives the input kind and shape, the vocabulary size and the number of classes.

    Returns:
        a Classifier whose encoder maps inputs to (B, dim) features.
    """
    adapter, info = fuse_inputs(task)
    require_kind("transformer", info, ("image", "sequence", "text"), task)
    body = TransformerBody(_tokens(info, config, adapter, task), config)
    return Classifier(Encoder(adapter, body), config.dim, task.n_classes)


MODELS.register("transformer", help="small pre-norm Transformer encoder (patches or tokens)")(
    ModelPlugin(TransformerConfig, build_transformer, frozenset({"image", "sequence", "text"}))
)
