"""Convolutional networks: a small 2-D CNN for images and an FCN-style 1-D CNN for sequences.

Both are stacks of conv → norm (batch norm by default) → ReLU blocks ending in global average
pooling, so the feature size is the last block's channel count whatever the input size.

Reference: Wang, Yan & Oates, "Time series classification from scratch with deep neural
networks: a strong baseline", IJCNN 2017 (the 1-D FCN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from fivefold.data.task import Task
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.dropout import Dropout
from fivefold.models.inputs import Encoder, fuse_inputs, require_kind
from fivefold.schema import option

__all__ = ["CNNConfig", "ConvNet1d", "ConvNet2d", "build_cnn"]


@dataclass(frozen=True)
class CNNConfig:
    """Options of the ``cnn`` model."""

    image_channels: tuple[int, ...] = option(
        (16, 32, 64, 128), help="output channels of each 3x3 conv block (images)", min=1
    )
    sequence_channels: tuple[int, ...] = option(
        (64, 128, 64), help="output channels of each 1-D conv block (sequences)", min=1
    )
    sequence_kernels: tuple[int, ...] = option(
        (7, 5, 3), help="kernel width of each 1-D conv block, one per sequence block", min=1
    )
    norm: Literal["batch", "group"] = option(
        "batch",
        help="batch norm, or group norm (no running statistics: steadier when a tiny data set "
        "gets only a few dozen optimisation steps)",
    )
    dropout: float = option(0.0, help="dropout on the pooled features", min=0.0, max=0.9)

    def __post_init__(self) -> None:
        if not self.image_channels or not self.sequence_channels:
            raise ValueError("image_channels and sequence_channels need at least one block")
        if len(self.sequence_kernels) != len(self.sequence_channels):
            raise ValueError(
                f"sequence_kernels has {len(self.sequence_kernels)} widths but "
                f"sequence_channels has {len(self.sequence_channels)} blocks; give one per block"
            )


def _norm(kind: Literal["batch", "group"], channels: int, dims: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)


class ConvNet2d(nn.Module):
    """3x3 conv-norm-relu blocks, 2x2 max pooling between blocks, global average pooling.

    Args:
        in_channels: C of the (B, C, H, W) input.
        config: the model options (``image_channels``, ``norm``, ``dropout``).
    """

    def __init__(self, in_channels: int, config: CNNConfig) -> None:
        super().__init__()
        channels = config.image_channels
        blocks: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip((in_channels, *channels), channels, strict=False)):
            if i > 0:
                # ceil_mode keeps odd and tiny maps (e.g. 8x8 digits after 3 pools) non-empty
                blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            blocks.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False))
            blocks += [_norm(config.norm, c_out, dims=2), nn.ReLU()]
        self.blocks = nn.Sequential(*blocks)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x)  # (B, C, H, W) → (B, C', H', W')
        features: torch.Tensor = self.dropout(h.mean(dim=(2, 3)))  # (B, C')
        return features


class ConvNet1d(nn.Module):
    """FCN: 1-D conv-norm-relu blocks with "same" padding, global average pooling over time.

    Args:
        in_channels: C of the (B, C, T) input.
        config: the model options (``sequence_channels``, ``sequence_kernels``, ``norm``,
            ``dropout``).
    """

    def __init__(self, in_channels: int, config: CNNConfig) -> None:
        super().__init__()
        channels, kernels = config.sequence_channels, config.sequence_kernels
        blocks: list[nn.Module] = []
        for c_in, c_out, k in zip((in_channels, *channels), channels, kernels, strict=False):
            blocks.append(nn.Conv1d(c_in, c_out, k, padding="same", bias=False))
            blocks += [_norm(config.norm, c_out, dims=1), nn.ReLU()]
        self.blocks = nn.Sequential(*blocks)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x)  # (B, C, T) → (B, C', T)
        features: torch.Tensor = self.dropout(h.mean(dim=2))  # (B, C')
        return features


def build_cnn(config: CNNConfig, task: Task) -> Classifier:
    """A 2-D CNN for image inputs or a 1-D CNN for sequence inputs.

    Args:
        config: the model options.
        task: gives the input kind, channels and the number of classes.

    Returns:
        a Classifier whose encoder maps inputs to (B, last block's channels) features.
    """
    adapter, info = fuse_inputs(task)
    require_kind("cnn", info, ("image", "sequence"), task)
    if info.kind == "image":
        body: nn.Module = ConvNet2d(info.shape[0], config)
        width = config.image_channels[-1]
    else:
        body = ConvNet1d(info.shape[0], config)
        width = config.sequence_channels[-1]
    return Classifier(Encoder(adapter, body), width, task.n_classes)


MODELS.register("cnn", help="small CNN: 2-D for images, FCN-style 1-D for sequences")(
    ModelPlugin(CNNConfig, build_cnn, frozenset({"image", "sequence"}))
)
