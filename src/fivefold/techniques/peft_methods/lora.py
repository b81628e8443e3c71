"""LoRA through HF ``peft``: inject low-rank updates into named layers, merge them for export.

``peft`` wraps every target layer in place: a Linear named ``encoder.body.0`` becomes a LoRA
layer whose original weights live at ``encoder.body.0.base_layer`` and whose factors live at
``encoder.body.0.lora_A.default`` / ``lora_B.default``. :func:`merge_lora` folds the factors back
into the base weights and puts the original layers back, so the model's state dict has its
original names again.

Reference: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from fivefold.seeding import child_seed

__all__ = ["inject_lora", "lora_layers", "merge_lora"]


def inject_lora(
    model: nn.Module,
    names: Sequence[str],
    *,
    r: int,
    alpha: int,
    dropout: float,
    seed: int,
) -> nn.Module:
    """Add LoRA factors (A random, B zero: the outputs are unchanged) to the named layers.

    ``peft`` draws A from the global random stream; it runs in a forked stream seeded from
    ``seed`` so the factors are reproducible and the caller's stream is left as it was.

    Returns:
        ``model`` itself, modified in place; only the LoRA factors require gradients.
    """
    # peft takes ~3 s to import: only recipes that use LoRA pay for it
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(names))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, "peft", "lora"))
        adapted: nn.Module = inject_adapter_in_model(config, model)
    for layer in lora_layers(adapted).values():
        layer.register_forward_pre_hook(_no_fused_path)
    return adapted


def _no_fused_path(module: nn.Module, args: Any) -> None:
    """A no-op hook whose presence matters: in evaluation mode ``nn.TransformerEncoderLayer``
    runs a fused kernel on the raw weights of its sub-layers, skipping their LoRA branches,
    unless a hook is attached to one of them."""


def lora_layers(model: nn.Module) -> dict[str, Any]:
    """The outermost LoRA layers of ``model`` by name (nested ones, e.g. an attention's output
    projection, are handled by their parent)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    found: dict[str, Any] = {}
    for name, module in model.named_modules():
        if isinstance(module, BaseTunerLayer) and not any(name.startswith(f + ".") for f in found):
            found[name] = module
    return found


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base layer and put the plain layer back, in place.

    Returns:
        ``model``, now holding only its original layers (same names, same state-dict keys);
        its outputs equal the adapted model's up to float rounding.
    """
    for name, layer in lora_layers(model).items():
        if hasattr(layer, "unload_and_optionally_merge_module"):  # MultiheadAttention
            plain: nn.Module = layer.unload_and_optionally_merge_module(
                merge=True, safe_merge=True, adapter_names=None
            )
        else:
            layer.merge(safe_merge=True)
            plain = layer.get_base_layer()
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, plain)
    return model
