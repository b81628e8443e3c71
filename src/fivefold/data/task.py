"""The Task: train/val/test splits (plus optional shift and unlabeled splits) and metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

__all__ = [
    "Inputs",
    "Modality",
    "ModalityInfo",
    "Split",
    "Task",
    "TextEncoder",
    "index_inputs",
    "input_length",
]

Modality = Literal["image", "sequence", "tabular", "text"]
Inputs = torch.Tensor | dict[str, torch.Tensor]
TextEncoder = Callable[[Sequence[str]], torch.Tensor]
"""Turns raw strings into a (N, L) int64 tensor of token ids (0 = padding)."""


def index_inputs(x: Inputs, idx: torch.Tensor | slice) -> Inputs:
    """Select rows ``idx`` of a tensor or of every tensor of a modality dict."""
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


def input_length(x: Inputs) -> int:
    """Number of samples in a tensor or modality dict."""
    if isinstance(x, dict):
        return len(next(iter(x.values())))
    return len(x)


@dataclass(frozen=True)
class ModalityInfo:
    """What one input is.

    Attributes:
        kind: image (C, H, W), sequence (C, T), tabular (F,) or text (L,) token ids.
        shape: per-sample shape, without the batch dimension.
        bounds: (low, high) valid input range (attacks and corruptions respect it), or None.
        feature_names: one name per feature (tabular) or channel (sequence), optional.
        categorical: groups of one-hot column indices, one group per categorical feature.
        vocab_size: number of token ids for text (including padding 0 and unknown 1).
    """

    kind: Modality
    shape: tuple[int, ...]
    bounds: tuple[float, float] | None = None
    feature_names: tuple[str, ...] = ()
    categorical: tuple[tuple[int, ...], ...] = ()
    vocab_size: int = 0


@dataclass(frozen=True)
class Split:
    """One split: inputs, integer labels (N,), optional group ids (N,) and raw texts."""

    x: Inputs
    y: torch.Tensor
    group: torch.Tensor | None = None
    texts: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: torch.Tensor) -> Split:
        """The rows ``idx`` (a 1-D int64 tensor) of this split."""
        texts = None if self.texts is None else tuple(self.texts[i] for i in idx.tolist())
        group = None if self.group is None else self.group[idx]
        return Split(index_inputs(self.x, idx), self.y[idx], group, texts)


@dataclass(frozen=True)
class Task:
    """A classification task ready for training and evaluation.

    Attributes:
        name: dataset name.
        splits: "train", "val", "test" and optionally "unlabeled" (labels -1).
        inputs: modality info per input; a single-input task uses the key "x".
        class_names: one name per class.
        group_names: names of the sensitive-attribute groups, if the data has them.
        shifts: extra test splits under a distribution shift, by name
            (e.g. "rotation=30", "domain=Asia").
        text_encoder: re-encodes raw texts (for text corruptions and backbones).
        info: free-form provenance (source file, official split used, sizes).
    """

    name: str
    splits: Mapping[str, Split]
    inputs: Mapping[str, ModalityInfo]
    class_names: tuple[str, ...]
    group_names: tuple[str, ...] | None = None
    shifts: Mapping[str, Split] = field(default_factory=dict)
    text_encoder: TextEncoder | None = None
    info: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def multimodal(self) -> bool:
        return len(self.inputs) > 1

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def val(self) -> Split:
        return self.splits["val"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    def with_splits(self, **splits: Split) -> Task:
        """A copy with some splits replaced."""
        return replace(self, splits={**self.splits, **splits})
