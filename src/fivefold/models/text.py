"""A small trainable text encoder over the task's own vocabulary (no pretrained weights).

Token ids are embedded (id 0 is padding and embeds to zeros), then either convolved with
several n-gram widths and max-pooled over the non-padding positions (Kim 2014), or, with no
widths, averaged over the non-padding tokens (a bag of embeddings).

Reference: Kim, "Convolutional neural networks for sentence classification", EMNLP 2014.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fivefold.data.task import Task
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.inputs import Encoder, fuse_inputs, require_kind
from fivefold.schema import option

__all__ = ["TextCNN", "TextConfig", "build_text"]


@dataclass(frozen=True)
class TextConfig:
    """Options of the ``text`` model."""

    embedding_dim: int = option(128, help="width of the word embeddings", min=1)
    kernel_sizes: tuple[int, ...] = option(
        (3, 4, 5), help="n-gram widths of the convolutions; [] averages the embeddings", min=1
    )
    filters: int = option(100, help="convolution filters per n-gram width", min=1)
    dropout: float = option(0.5, help="dropout on the pooled features", min=0.0, max=0.9)


class TextCNN(nn.Module):
    """(B, L) token ids → (B, D) features; D = filters x widths, or embedding_dim without widths.

    Args:
        vocab_size: number of token ids (0 is padding).
        config: the model options.
    """

    def __init__(self, vocab_size: int, config: TextConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.filters, k, padding="same")
            for k in config.kernel_sizes
        )
        self.dropout = nn.Dropout(config.dropout)
        n_convs = len(config.kernel_sizes)
        self.feature_dim = config.filters * n_convs if n_convs else config.embedding_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = (ids == 0).unsqueeze(1)  # (B, 1, L)
        e = self.embed(ids).transpose(1, 2)  # (B, L, E) → (B, E, L)
        if not self.convs:
            keep = (~pad).to(e.dtype)
            pooled = e.sum(dim=2) / keep.sum(dim=2).clamp(min=1.0)  # masked mean: (B, E)
            out: torch.Tensor = self.dropout(pooled)
            return out
        # ReLU outputs are >= 0, so zeroing padded positions leaves the max over real tokens
        # unchanged (and gives zeros for an empty text)
        maps = [torch.relu(conv(e)).masked_fill(pad, 0.0) for conv in self.convs]  # (B, F, L)
        pooled = torch.cat([m.amax(dim=2) for m in maps], dim=1)  # (B, F x widths)
        out = self.dropout(pooled)
        return out


def build_text(config: TextConfig, task: Task) -> Classifier:
    """A TextCNN over the task's vocabulary (``ModalityInfo.vocab_size``).

    Args:
        config: the model options.
        task: gives the vocabulary size and the number of classes.

    Returns:
        a Classifier whose encoder maps (B, L) token ids to (B, D) features.
    """
    adapter, info = fuse_inputs(task)
    require_kind("text", info, ("text",), task)
    body = TextCNN(info.vocab_size, config)
    return Classifier(Encoder(adapter, body), body.feature_dim, task.n_classes)


MODELS.register("text", help="word-embedding CNN (Kim 2014) trained on the task's vocabulary")(
    ModelPlugin(TextConfig, build_text, frozenset({"text"}))
)
