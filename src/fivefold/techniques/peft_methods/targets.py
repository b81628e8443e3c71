"""Which layers a parameter-efficient method adapts: by layer type, by name pattern, or both.

Names are the dotted module names of the model handed to the technique (for a fivefold
:class:`~fivefold.models.base.Classifier`: ``encoder.body.0``, ``encoder.body.backbone.encoder.
layer.3.attention.self.query``, ...). The task head is never a target: it is new and trains in
full. Layers inside an ``nn.MultiheadAttention`` are never targets on their own, because the
attention reads their weights directly instead of calling them; LoRA adapts the attention
module as a whole instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from torch import nn

from fivefold.errors import ConfigError

__all__ = ["LAYER_KINDS", "Method", "Target", "head_of", "select_targets"]

Method = Literal["lora", "bitfit", "adapter"]
Target = Literal["auto", "linear", "conv", "embedding", "all"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
LAYER_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "linear": (nn.Linear,),
    "conv": _CONV,
    "embedding": (nn.Embedding,),
}
# A pretrained attention block with separate projections: LoRA adapts queries and values
# (Hu et al. 2022, section 7.1); Houlsby adapters follow the two projections that feed a
# residual connection (the attention output and the feed-forward output).
_ATTENTION_QV = re.compile(r"(^|\.)(query|value)$")
_RESIDUAL_PROJECTIONS = re.compile(r"(^|\.)output\.dense$")


def head_of(model: nn.Module) -> nn.Module | None:
    """The model's task head (``model.head``), or None for a model without one."""
    head = getattr(model, "head", None)
    return head if isinstance(head, nn.Module) else None


def _types(method: Method, target: Target) -> tuple[type[nn.Module], ...]:
    kinds = ("linear", "conv", "embedding") if target in ("auto", "all") else (target,)
    types = tuple(t for k in kinds for t in LAYER_KINDS[k])
    if method == "lora" and "linear" in kinds:
        types += (nn.MultiheadAttention,)
    return types


def _candidates(model: nn.Module, method: Method, target: Target) -> list[str]:
    """Names of every layer of the wanted types outside the head and outside attentions."""
    head, types = head_of(model), _types(method, target)
    skip: list[str] = []
    names: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(s + ".") for s in skip):
            continue
        if module is head:
            skip.append(name)
            continue
        if isinstance(module, nn.MultiheadAttention):
            skip.append(name)
        if name and isinstance(module, types):
            names.append(name)
    return names


def select_targets(
    model: nn.Module, method: Method, target: Target, patterns: Sequence[str]
) -> list[str]:
    """Names of the layers to adapt, in module order.

    Args:
        model: the model to adapt.
        method: "lora" (Linear, Conv1d/2d/3d, Embedding, MultiheadAttention) or "adapter"
            (Linear, Conv1d/2d/3d, Embedding).
        target: layer types to adapt; "auto" picks a sensible default: the query and value
            projections of a pretrained attention (LoRA) or the projections that feed its
            residual connections (adapters) when the model has them, else every layer of
            the supported types.
        patterns: regular expressions searched in the layer names (``re.search``); when
            given, only matching layers are adapted.

    Raises:
        ConfigError: a pattern is not a valid regular expression, or nothing matches.
    """
    names = _candidates(model, method, target)
    if patterns:
        regexes = [_compile(p) for p in patterns]
        names = [n for n in names if any(r.search(n) for r in regexes)]
    elif target == "auto":
        preferred = _ATTENTION_QV if method == "lora" else _RESIDUAL_PROJECTIONS
        names = [n for n in names if preferred.search(n)] or names
    if not names:
        raise ConfigError(
            f"peft: no layer of the model matches target={target!r}, modules={list(patterns)}; "
            f"{method} adapts {_ADAPTS[method]} layers outside the head, and this model has "
            f"{', '.join(_layer_kinds(model)) or 'no other layer'} (try method = 'bitfit', or "
            "another target)"
        )
    return names


_ADAPTS = {
    "lora": "Linear, Conv1d/2d/3d, Embedding and MultiheadAttention",
    "adapter": "Linear, Conv1d/2d/3d and Embedding",
}


def _layer_kinds(model: nn.Module) -> list[str]:
    """Class names of the model's layers outside the head (containers left out)."""
    head = head_of(model)
    inside_head = {id(m) for m in head.modules()} if head is not None else set()
    return sorted(
        {
            type(m).__name__
            for n, m in model.named_modules()
            if n and id(m) not in inside_head and not isinstance(m, nn.Sequential | nn.ModuleList)
        }
    )


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ConfigError(
            f"peft.modules: {pattern!r} is not a regular expression ({err})"
        ) from None
