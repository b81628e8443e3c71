"""Reading a checkpoint and loading the encoder tensors whose names and shapes match."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fivefold.errors import ConfigError
from fivefold.training.checkpoint import read_state as read_checkpoint

__all__ = ["encoder_tensors", "load_encoder", "read_state"]

ENCODER = "encoder."


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint named by ``transfer.checkpoint`` (see ``training.checkpoint``).

    Raises:
        DataError: the file is missing, corrupted or holds no state dict of tensors.
    """
    return read_checkpoint(path, "transfer.checkpoint:")


def encoder_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a Classifier state dict, names relative to the encoder.

    A state dict without any ``encoder.`` name is taken as the encoder's own state dict.
    """
    if any(k.startswith(ENCODER) for k in state):
        return {k[len(ENCODER) :]: v for k, v in state.items() if k.startswith(ENCODER)}
    return dict(state)


def _shown(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_encoder(
    encoder: nn.Module, tensors: dict[str, torch.Tensor], *, strict: bool, origin: str
) -> int:
    """Copy ``tensors`` into ``encoder``'s parameters and buffers whose names match.

    Args:
        encoder: the model's encoder.
        tensors: encoder tensors by name (relative to the encoder).
        strict: fail when an encoder tensor is missing from ``tensors`` or ``tensors`` has
            names the encoder lacks.
        origin: where the tensors come from, for error messages.

    Returns:
        the number of tensors loaded.

    Raises:
        ConfigError: a shape mismatch, no name in common, or (strict) missing/unexpected names.
    """
    own = encoder.state_dict()
    common = [k for k in own if k in tensors]
    _check_shapes(own, tensors, common, origin)
    _check_names(own, tensors, common, origin, strict=strict)
    with torch.no_grad():
        for k in common:
            own[k].copy_(tensors[k].to(own[k].dtype))
    return len(common)


def _check_shapes(
    own: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], common: list[str], origin: str
) -> None:
    shapes = [
        f"{k} {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
        for k in common
        if tensors[k].shape != own[k].shape
    ]
    if shapes:
        raise ConfigError(
            f"transfer: {len(shapes)} encoder tensors of {origin} differ in shape from the "
            f"model's: {_shown(shapes)}; use the same model and input shapes as that run"
        )


def _check_names(
    own: dict[str, torch.Tensor],
    tensors: dict[str, torch.Tensor],
    common: list[str],
    origin: str,
    *,
    strict: bool,
) -> None:
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    if common and not (strict and (missing or unexpected)):
        return
    parts = [f"missing: {_shown(missing)}"] if missing else []
    parts += [f"not in the model: {_shown(unexpected)}"] if unexpected else []
    hint = "; set strict = false to load only the matching ones" if common else ""
    raise ConfigError(
        f"transfer: {origin}: {len(common)} of {len(own)} encoder tensors match "
        f"({'; '.join(parts)}){hint}"
    )
