"""Checkpoints as safetensors: no pickles are ever loaded."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.errors import DataError

__all__ = ["load_weights", "read_state", "save_weights"]


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's state dict to ``path`` atomically (shared tensors are cloned)."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def read_state(path: Path, label: str = "weights file") -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file or of a ``torch.save`` state dict (weights only).

    Args:
        path: the file.
        label: how error messages name the file (e.g. the config field it came from).

    Raises:
        DataError: the file is missing, corrupted or holds no state dict of tensors.
    """
    if not path.is_file():
        raise DataError(f"{label} {path} not found; give the path of a .safetensors file")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{label} {path} is corrupted or not a checkpoint: {first}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{label} {path} holds no state dict of tensors")
    return state


def load_weights(model: nn.Module, path: Path, *, strict: bool = True) -> nn.Module:
    """Load ``path`` (safetensors, or a ``torch.save`` state dict read with weights_only=True).

    Raises:
        DataError: the file is missing, corrupted, or does not match the model.
    """
    state = read_state(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise DataError(f"weights file {path} does not match the model: {first}") from None
    return model
