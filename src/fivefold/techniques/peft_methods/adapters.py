"""Bottleneck adapters: a small residual block after chosen layers, zero at initialisation.

``h ← h + up(gelu(down(h)))`` on the features of a Linear or Embedding output (last axis) or
on the channels of a convolution output (axis 1, with 1×1 convolutions). The up-projection
starts at zero, so the adapted model computes exactly what the original did until it trains.

The adapter is registered as a child module named ``peft_adapter`` of the layer it follows and is
applied by a forward hook, so the layer keeps its class and its parameter names.

Reference: Houlsby et al., "Parameter-Efficient Transfer Learning for NLP", ICML 2019.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Bottleneck", "add_adapters"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class Bottleneck(nn.Module):
    """``up(gelu(down(h)))`` over the features of ``h``: its last axis, or axis 1 (channels).

    Args:
        width: size of the adapted feature axis.
        bottleneck: width of the down-projection.
        channel_axis: 1 for (B, C, ...) convolution outputs, -1 for (..., D) features.
        generator: random stream for the down-projection's initial weights.
    """

    def __init__(
        self, width: int, bottleneck: int, channel_axis: int, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.channel_axis = channel_axis
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        with torch.no_grad():  # near-identity start (Houlsby et al., section 2.1)
            self.down.weight.normal_(0.0, 1e-2, generator=generator)
            self.down.bias.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = h.movedim(self.channel_axis, -1)  # (..., D)
        out: torch.Tensor = self.up(F.gelu(self.down(z)))
        return out.movedim(-1, self.channel_axis)


def _add_adapter(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    # A module-level function (not a closure) so deep copies of the model reuse it and call
    # their own copy of the adapter.
    adapter: nn.Module = module.get_submodule("peft_adapter")
    delta: torch.Tensor = adapter(output)
    return output + delta


def _width(layer: nn.Module) -> tuple[int, int]:
    if isinstance(layer, nn.Linear):
        return layer.out_features, -1
    if isinstance(layer, nn.Embedding):
        return layer.embedding_dim, -1
    if isinstance(layer, _CONVS):
        return layer.out_channels, 1
    raise TypeError(f"adapters follow Linear, Conv or Embedding layers, not {type(layer).__name__}")


def add_adapters(
    model: nn.Module, names: Sequence[str], bottleneck: int, generator: torch.Generator
) -> nn.Module:
    """Insert a zero-initialised bottleneck adapter after each named layer, in place.

    Returns:
        ``model`` with new parameters ``<layer>.peft_adapter.{down,up}.{weight,bias}``.
    """
    for name in names:
        layer = model.get_submodule(name)
        width, axis = _width(layer)
        layer.add_module("peft_adapter", Bottleneck(width, bottleneck, axis, generator))
        layer.register_forward_hook(_add_adapter)
    return model
