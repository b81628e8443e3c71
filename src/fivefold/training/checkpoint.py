"""Checkpoints as safetensors: no pickles are ever loaded.

A weights file is read as safetensors, or as a ``torch.save`` state dict through
``torch.load(..., weights_only=True)``, which refuses every object that is not a tensor or a plain
container. Anything either reader refuses becomes one :class:`DataError` line that says how to
convert a checkpoint the user trusts.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.errors import DataError, first_line

__all__ = ["CONVERT_HINT", "load_weights", "read_state", "save_weights"]

CONVERT_HINT = (
    "fivefold loads only .safetensors files and weights-only torch state dicts; convert a "
    'checkpoint you trust with safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
)
# torch names the object it refused on a line of its (long, multi-line) message
_REFUSED = re.compile(r"unsupported GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)")


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's state dict to ``path`` atomically (shared tensors are cloned)."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def _is_safetensors(path: Path) -> bool:
    """By name, or by content: an 8-byte header length followed by the JSON header."""
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _refusal(err: Exception) -> str:
    """A short reason for ``err``: the refused object if torch names one, else the first line."""
    found = _REFUSED.search(str(err))
    if found:
        return f"it holds {found.group(1) or found.group(2)}, which is not a tensor"
    if isinstance(err, pickle.UnpicklingError):
        return "torch refuses to unpickle it with weights_only=True"
    return first_line(err).split(". ")[0][:160]


def _load(path: Path) -> Any:
    with warnings.catch_warnings():
        # torch warns about pickle protocols on stderr; the one line below says it all
        warnings.simplefilter("ignore")
        if _is_safetensors(path):
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)


def read_state(path: Path, label: str = "weights file") -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file or of a ``torch.save`` state dict (weights only).

    Args:
        path: the file.
        label: how error messages name the file (e.g. the config field it came from).

    Raises:
        DataError: the file is missing, a folder, corrupted, or holds anything but a state
            dict of tensors (a pickle with code, a whole pickled model, random bytes).
    """
    if path.is_dir():
        raise DataError(f"{label} {path} is a folder; give the path of a .safetensors file")
    if not path.is_file():
        raise DataError(f"{label} {path} not found; give the path of a .safetensors file")
    try:
        state = _load(path)
    except Exception as err:  # hostile or broken bytes: each reader has its own error types
        raise DataError(
            f"{label} {path} is corrupted or not a checkpoint ({_refusal(err)}); {CONVERT_HINT}"
        ) from None
    _check_tensors(state, path, label)
    return state  # type: ignore[no-any-return]


def _check_tensors(state: Any, path: Path, label: str) -> None:
    if not isinstance(state, dict):
        what = f"a {type(state).__name__}"
    else:
        bad = [k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
        if not bad:
            return
        what = f"entry {bad[0]!r} that is a {type(state[bad[0]]).__name__}"
    raise DataError(f"{label} {path} holds no state dict of tensors ({what}); {CONVERT_HINT}")


def _mismatch(model: nn.Module, state: dict[str, torch.Tensor], err: RuntimeError) -> str:
    """The first shape mismatch, missing or unexpected key; else torch's first reason."""
    own = model.state_dict()
    for key, value in state.items():
        if key in own and tuple(own[key].shape) != tuple(value.shape):
            return (
                f"{key!r} has shape {tuple(value.shape)} in the file but "
                f"{tuple(own[key].shape)} in the model"
            )
    for kind, keys in (("missing", own.keys() - state), ("unexpected", state.keys() - own)):
        if keys:
            first = next(k for k in (own if kind == "missing" else state) if k in keys)
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            return f"{kind} key {first!r}{more}"
    lines = str(err).strip().splitlines()  # line 0 is "Error(s) in loading state_dict for X:"
    return lines[-1].strip() if lines else type(err).__name__


def load_weights(model: nn.Module, path: Path, *, strict: bool = True) -> nn.Module:
    """Load ``path`` (safetensors, or a ``torch.save`` state dict read with weights_only=True).

    Raises:
        DataError: the file is missing, corrupted, or does not match the model (the message
            names the first shape mismatch, or the first missing or unexpected key).
    """
    state = read_state(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise DataError(
            f"weights file {path} does not match the model: {_mismatch(model, state, err)}"
        ) from None
    return model
