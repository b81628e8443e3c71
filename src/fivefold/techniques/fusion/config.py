"""Options of the ``fusion`` technique."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fivefold.errors import did_you_mean
from fivefold.models.base import MODELS
from fivefold.models.fusion import FusionOptions
from fivefold.schema import option

__all__ = ["FusionConfig"]


@dataclass(frozen=True)
class FusionConfig:
    """Which encoder reads each input and how their features are joined."""

    method: Literal["early", "late", "attention", "gated"] = option(
        "early",
        help="early: concatenate the inputs' features, then an MLP block; late: one head per "
        "input, logits averaged with `late_weights`; attention: each input's tokens attend to "
        "the other inputs' tokens (cross-modal multi-head attention), then pooled; gated: "
        "gated multimodal unit (a softmax gate over the inputs per hidden unit)",
    )
    encoders: Mapping[str, str] | None = option(
        None,
        help="model per input, keyed by input name or kind, e.g. {gyroscope = 'gru', tabular = "
        "'mlp'}; other inputs get the default model of their kind (cnn for images and "
        "sequences of 32+ steps, mlp for tables and shorter sequences, text for token ids)",
    )
    width: int = option(
        128,
        help="early: width of the MLP block; gated: width of the gated unit; attention: token "
        "width (features are inputs x width)",
        min=1,
    )
    heads: int = option(4, help="attention: attention heads; must divide width", min=1, max=64)
    dropout: float = option(
        0.1, help="dropout in the early MLP block and the attention block", min=0.0, max=0.9
    )
    late_weights: Literal["learned", "mean"] = option(
        "learned",
        help="late: weights of the inputs' logits, a learned softmax (starting uniform) or the "
        "plain mean",
    )
    tokens: Literal["steps", "pooled"] = option(
        "steps",
        help="attention: tokens per time step, image position or word where the input's encoder "
        "has them (cnn, gru/lstm, text, transformer; mlp: one token), or one pooled token per "
        "input",
    )
    modality_dropout: float = option(
        0.0,
        help="while training, drop each input of each sample with this probability (never all "
        "of them): its features are zeroed and the other inputs' late weights and gates "
        "renormalised; 0: off",
        min=0.0,
        max=0.5,
    )

    def __post_init__(self) -> None:
        if self.method == "attention" and self.width % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide width ({self.width}) for method 'attention'"
            )
        for key, name in (self.encoders or {}).items():
            if not key:
                raise ValueError("encoders: an empty key; name an input or a kind")
            if name not in MODELS:
                raise ValueError(
                    f"encoders.{key}: unknown model {name!r}{did_you_mean(name, MODELS.names())};"
                    f" allowed: {', '.join(MODELS.names())}"
                )
            if MODELS.get(name).prepare is not None:
                raise ValueError(
                    f"encoders.{key}: model {name!r} re-encodes its input and cannot be a "
                    "fusion encoder; choose another model"
                )

    def options(self) -> FusionOptions:
        """The model-building options."""
        return FusionOptions(
            method=self.method,
            encoders=dict(self.encoders) if self.encoders else None,
            width=self.width,
            heads=self.heads,
            dropout=self.dropout,
            late_weights=self.late_weights,
            tokens=self.tokens,
            modality_dropout=self.modality_dropout,
        )
