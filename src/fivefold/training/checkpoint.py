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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.errors import DataError, first_line
from fivefold.training.combiners import Combiner, combiner_from_state

__all__ = [
    "CONVERT_HINT",
    "MEMBERS_FORMAT",
    "is_member_checkpoint",
    "load_members",
    "load_weights",
    "read_members",
    "read_state",
    "save_members",
    "save_weights",
]

CONVERT_HINT = (
    "fivefold loads only .safetensors files and weights-only torch state dicts; convert a "
    'checkpoint you trust with safetensors.torch.save_file(model.state_dict(), "model.safetensors")'
)
# torch names the object it refused on a line of its (long, multi-line) message
_REFUSED = re.compile(r"unsupported GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)")


MEMBERS_FORMAT = "fivefold-members"
"""The ``format`` metadata of an ensemble checkpoint: every member's state dict under the prefix
``member-<k>.``, the combiner's under ``combiner.``; metadata ``members`` (K) and ``combiner``
(its kind, :data:`fivefold.training.combiners.COMBINERS`)."""


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def _write(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's state dict to ``path`` atomically (shared tensors are cloned)."""
    _write(_state(model), path, None)


def save_members(members: Sequence[nn.Module], path: Path, combiner: Combiner) -> None:
    """Write an ensemble to one safetensors file atomically: member k's tensors as
    ``member-<k>.<name>``, the combiner's as ``combiner.<name>``.

    Args:
        members: the K members (any architectures).
        path: the file to write.
        combiner: how the members' outputs are joined; its kind goes in the metadata.
    """
    state: dict[str, torch.Tensor] = {}
    for k, member in enumerate(members):
        state.update({f"member-{k}.{n}": t for n, t in _state(member).items()})
    state.update({f"combiner.{n}": t for n, t in _state(combiner).items()})
    meta = {"format": MEMBERS_FORMAT, "members": str(len(members)), "combiner": combiner.kind}
    _write(state, path, meta)


def _metadata(path: Path) -> dict[str, str]:
    """The safetensors header metadata of ``path``; empty when it has none or is no such file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata()
    except Exception:  # not safetensors, damaged header: not a member checkpoint
        return {}
    return dict(meta) if isinstance(meta, dict) else {}


def is_member_checkpoint(path: Path) -> bool:
    """Whether ``path`` is an ensemble checkpoint written by :func:`save_members`."""
    return path.is_file() and _metadata(path).get("format") == MEMBERS_FORMAT


def read_members(
    path: Path, label: str = "weights file"
) -> tuple[list[dict[str, torch.Tensor]], Combiner]:
    """The members' state dicts and the rebuilt combiner of an ensemble checkpoint.

    Raises:
        DataError: the file is missing or damaged, is not an ensemble checkpoint, lacks a
            member its metadata announces, or holds a combiner that cannot be rebuilt.
    """
    state = read_state(path, label)
    meta = _metadata(path)
    if meta.get("format") != MEMBERS_FORMAT:
        raise DataError(
            f"{label} {path} is not an ensemble checkpoint (no format={MEMBERS_FORMAT!r} in its "
            "metadata); give a file written by an ensemble run (files/model.safetensors)"
        )
    count = meta.get("members", "")
    if not count.isdigit() or int(count) < 1:
        raise DataError(f"{label} {path} has a damaged header: members={count!r} is no count")
    members: list[dict[str, torch.Tensor]] = [{} for _ in range(int(count))]
    combiner_state: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        head, _, name = key.partition(".")
        index = head.removeprefix("member-")
        if head == "combiner":
            combiner_state[name] = tensor
        elif head.startswith("member-") and index.isdigit() and int(index) < len(members):
            members[int(index)][name] = tensor
        else:
            raise DataError(
                f"{label} {path} holds {key!r}, which belongs to no member of {count}; "
                "the file is damaged or was edited, write it again with an ensemble run"
            )
    empty = [k for k, m in enumerate(members) if not m]
    if empty:
        raise DataError(
            f"{label} {path} announces {count} members but holds no tensors for member "
            f"{empty[0]}; the file is damaged, write it again with an ensemble run"
        )
    try:
        combiner = combiner_from_state(meta.get("combiner", ""), combiner_state)
    except ValueError as err:
        raise DataError(f"{label} {path}: {first_line(err)}") from None
    return members, combiner


def load_members(
    build: Callable[[int], nn.Module], path: Path, label: str = "weights file"
) -> tuple[list[nn.Module], Combiner]:
    """The members (``build(k)`` loaded with member k's tensors) and combiner of ``path``.

    Raises:
        DataError: as :func:`read_members`, or a member's tensors do not match its model (the
            message names the member and the first mismatch).
    """
    states, combiner = read_members(path, label)
    models = []
    for k, state in enumerate(states):
        model = build(k)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise DataError(
                f"{label} {path}: member {k} does not match the model: "
                f"{_mismatch(model, state, err)}"
            ) from None
        models.append(model.eval())
    return models, combiner


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
