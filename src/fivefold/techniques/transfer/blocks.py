"""Encoder blocks: the units gradual unfreezing and layer-wise learning-rate decay work on.

A block is a group of encoder parameters at one depth. The encoder is split where it holds a
stack of layers (an ``nn.Sequential`` or ``nn.ModuleList`` with several parametrised members):
each member is a block, a normalisation layer joins the block before it (conv → batch norm is
one block), and modules beside the stack stay whole. For MiniLM this gives the embeddings and
the six transformer layers; for the CNN one block per conv + norm; for the MLP one per
linear + norm; a module with no stack inside (a bag-of-words embedding, an LSTM) is one block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from fivefold.errors import ConfigError

__all__ = ["Block", "encoder_and_head", "encoder_blocks", "lr_scales"]

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)
_STACKS = (nn.Sequential, nn.ModuleList)


@dataclass(frozen=True)
class Block:
    """One encoder block.

    Attributes:
        name: the module path of its first member, relative to the model (e.g.
            ``encoder.body.blocks.0``).
        modules: its modules (switched to evaluation mode while frozen).
        params: full names of its parameters, as ``model.named_parameters()`` gives them.
        tensors: the parameters themselves (in ``params`` order), so that freezing still
            finds them after another technique has renamed them by wrapping their modules.
    """

    name: str
    modules: tuple[nn.Module, ...]
    params: tuple[str, ...]
    tensors: tuple[nn.Parameter, ...] = field(default=(), compare=False, repr=False)


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _own_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _children(module: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
    return [(f"{path}.{n}", c) for n, c in module.named_children() if _has_params(c)]


def _is_stack(module: nn.Module) -> bool:
    return isinstance(module, _STACKS) and len(_children(module, "")) > 1


def _holds_stack(module: nn.Module) -> bool:
    return _is_stack(module) or any(_holds_stack(c) for c in module.children())


Group = list[tuple[str, nn.Module]]


def _groups(module: nn.Module, path: str) -> list[Group]:
    """Bottom-to-top groups of (path, module) under ``module``; see the module docstring."""
    kids = _children(module, path)
    if len(kids) == 1 and not _own_params(module):
        inner = _groups(kids[0][1], kids[0][0])
        return inner if len(inner) > 1 else [[(path, module)]]
    if not (_is_stack(module) or any(_holds_stack(c) for _, c in kids)):
        return [[(path, module)]]
    groups: list[Group] = []
    for name, child in kids:
        if groups and isinstance(child, _NORMS):
            groups[-1].append((name, child))
        elif _holds_stack(child) and not isinstance(module, _STACKS):
            groups += _groups(child, name)
        else:
            groups.append([(name, child)])
    return groups


def encoder_blocks(encoder: nn.Module) -> list[Block]:
    """The blocks of a Classifier's ``encoder``, bottom (input side) first.

    Parameters held directly by a split module (e.g. a position embedding) join the bottom
    block, so every encoder parameter belongs to exactly one block.

    Args:
        encoder: the model's feature extractor (its parameter names get an ``encoder.`` prefix).

    Returns:
        at least one block; their ``params`` partition the encoder's parameters.
    """
    every = {f"encoder.{n}": p for n, p in encoder.named_parameters()}
    blocks: list[tuple[str, tuple[nn.Module, ...], list[str]]] = []
    seen: set[str] = set()
    for group in _groups(encoder, "encoder"):
        names = [f"{path}.{n}" for path, m in group for n, _ in m.named_parameters()]
        names = [n for n in names if n not in seen and n in every]
        seen.update(names)
        blocks.append((group[0][0], tuple(m for _, m in group), names))
    blocks[0][2][:0] = [n for n in every if n not in seen]  # e.g. a position embedding
    return [
        Block(name, modules, tuple(names), tuple(every[n] for n in names))
        for name, modules, names in blocks
    ]


def lr_scales(
    head: nn.Module, blocks: list[Block], decay: float, head_scale: float
) -> dict[str, float]:
    """Learning-rate multipliers: ``decay ** depth`` per block (top: depth 1), head: ``head_scale``.

    Reference: Howard & Ruder, "Universal language model fine-tuning for text classification",
    ACL 2018 (discriminative fine-tuning); Clark et al., "ELECTRA", ICLR 2020 (layer-wise decay).
    """
    scales = {f"head.{n}": head_scale for n, _ in head.named_parameters()}
    for depth, block in enumerate(reversed(blocks), start=1):
        scales.update({name: decay**depth for name in block.params})
    return scales


def encoder_and_head(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """The ``encoder`` and linear ``head`` of a fivefold Classifier.

    Raises:
        ConfigError: the model has no encoder and linear head.
    """
    encoder, head = getattr(model, "encoder", None), getattr(model, "head", None)
    if not isinstance(encoder, nn.Module) or not isinstance(head, nn.Linear):
        raise ConfigError(
            "transfer: the model is not a fivefold Classifier (encoder + linear head); list "
            "transfer before techniques that replace the model"
        )
    return encoder, head
