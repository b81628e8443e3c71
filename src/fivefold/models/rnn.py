"""Recurrent encoders (GRU, LSTM) for sequences: each time step is one input vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from fivefold.data.task import Task
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.inputs import Encoder, Standardize, fuse_inputs, require_kind
from fivefold.schema import option

__all__ = ["GRUConfig", "RNNConfig", "RecurrentEncoder", "build_gru", "build_lstm"]

Cell = Literal["gru", "lstm"]


@dataclass(frozen=True)
class RNNConfig:
    """Options of the ``gru`` and ``lstm`` models."""

    hidden_size: int = option(64, help="hidden units per direction", min=1)
    num_layers: int = option(1, help="stacked recurrent layers", min=1, max=8)
    bidirectional: bool = option(False, help="also read the sequence backwards")
    pooling: Literal["mean", "last"] = option(
        "mean", help="features: mean of the outputs over time, or the last hidden state"
    )
    dropout: float = option(
        0.0, help="dropout between stacked layers and on the features", min=0.0, max=0.9
    )
    input_norm: bool = option(
        True, help="standardise each input channel with the training split's mean and std"
    )


@dataclass(frozen=True)
class GRUConfig(RNNConfig):
    """Options of the ``gru`` model: two layers of 128 by default.

    On UCR GunPoint and ArrowHead at the default training settings, 2 × 128 scored 0.947 and
    0.617 against 0.811 and 0.457 for 1 × 64, and 0.906 against 0.913 on ItalyPowerDemand
    (3 seeds each; ``BENCHMARKS.md``).
    """

    hidden_size: int = option(128, help="hidden units per direction", min=1)
    num_layers: int = option(2, help="stacked recurrent layers", min=1, max=8)


class RecurrentEncoder(nn.Module):
    """(B, C, T) sequence → (B, D) features with D = hidden_size x directions.

    Args:
        cell: "gru" or "lstm".
        in_channels: C, the size of each time step's input vector.
        config: the model options.
        norm: applied to the (B, C, T) input first (e.g. a :class:`Standardize`).
    """

    def __init__(
        self, cell: Cell, in_channels: int, config: RNNConfig, norm: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.pooling = config.pooling
        self.directions = 2 if config.bidirectional else 1
        self.norm = norm or nn.Identity()
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            in_channels,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).transpose(1, 2)  # (B, C, T) → (B, T, C)
        out, state = self.rnn(x)  # out: (B, T, D); h_n: (layers x directions, B, H)
        if self.pooling == "mean":
            features = out.mean(dim=1)  # (B, D)
        else:
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM state is (h_n, c_n)
            last = h_n[-self.directions :]  # top layer, every direction: (directions, B, H)
            features = last.transpose(0, 1).flatten(1)  # (B, D)
        out_features: torch.Tensor = self.dropout(features)
        return out_features


def _build(cell: Cell, config: RNNConfig, task: Task) -> Classifier:
    adapter, info = fuse_inputs(task)
    require_kind(cell, info, ("sequence",), task)
    norm = Standardize.fit(adapter, task) if config.input_norm else None
    body = RecurrentEncoder(cell, info.shape[0], config, norm)
    width = config.hidden_size * body.directions
    return Classifier(Encoder(adapter, body), width, task.n_classes)


def build_gru(config: GRUConfig, task: Task) -> Classifier:
    """A GRU over the time steps of a (B, C, T) sequence; features are (B, D)."""
    return _build("gru", config, task)


def build_lstm(config: RNNConfig, task: Task) -> Classifier:
    """An LSTM over the time steps of a (B, C, T) sequence; features are (B, D)."""
    return _build("lstm", config, task)


MODELS.register("gru", help="GRU over the time steps of a sequence")(
    ModelPlugin(GRUConfig, build_gru, frozenset({"sequence"}))
)
MODELS.register("lstm", help="LSTM over the time steps of a sequence")(
    ModelPlugin(RNNConfig, build_lstm, frozenset({"sequence"}))
)
