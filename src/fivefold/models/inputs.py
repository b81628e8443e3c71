"""Input adapter shared by all models: one tensor from a task's inputs, and what that tensor is.

A single-input task passes its tensor through unchanged. A multi-input task (e.g. BasicMotions'
accelerometer and gyroscope) is fused early, in sorted key order:

- inputs of one kind with compatible shapes (sequences of the same length, images of the same
  HxW, token ids of the same vocabulary) are concatenated along the channel (token) axis;
- anything else is flattened and concatenated into one tabular vector.

The architectures only ever see the fused "virtual" :class:`ModalityInfo`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from fivefold.data.task import Inputs, Modality, ModalityInfo, Task
from fivefold.errors import ConfigError

__all__ = ["Encoder", "InputAdapter", "Standardize", "fuse_inputs", "require_kind"]

FuseMode = Literal["concat", "flatten"]


class InputAdapter(nn.Module):
    """Turns a tensor or a ``{name: tensor}`` dict into one (B, ...) tensor.

    Args:
        keys: input names in fusion order (ignored when the input is a plain tensor).
        mode: "concat" joins along dim 1 (channels, or tokens for text); "flatten" flattens
            every input to (B, F_i) and joins them into (B, sum F_i).
    """

    def __init__(self, keys: Sequence[str], mode: FuseMode) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self.mode = mode

    def forward(self, x: Inputs) -> torch.Tensor:
        parts = [x[k] for k in self.keys] if isinstance(x, dict) else [x]
        if self.mode == "flatten":
            parts = [p.flatten(1) for p in parts]  # (B, F_i)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return f"keys={self.keys}, mode={self.mode!r}"


class Encoder(nn.Module):
    """``body(adapter(x))``: the (B, D) feature extractor of every fivefold model.

    Args:
        adapter: fuses the task's inputs into one tensor.
        body: the architecture proper, mapping that tensor to (B, D) features.
    """

    def __init__(self, adapter: InputAdapter, body: nn.Module) -> None:
        super().__init__()
        self.adapter = adapter
        self.body = body

    def forward(self, x: Inputs) -> torch.Tensor:
        out: torch.Tensor = self.body(self.adapter(x))
        return out


class Standardize(nn.Module):
    """Per-channel ``(x - mean) / std`` of (B, C, ...) inputs with fixed statistics.

    Unlike an input batch norm, it behaves the same in training and evaluation from the first
    step, which matters on tiny data sets trained for a few dozen steps.

    Args:
        mean: (C,) channel means.
        std: (C,) channel standard deviations.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float().clamp(min=1e-6))

    @classmethod
    def fit(cls, adapter: InputAdapter, task: Task) -> Standardize:
        """Statistics of ``task``'s training split, after fusion, over samples and time/space."""
        with torch.no_grad():
            x = adapter(task.train.x).float()  # (N, C, ...)
            dims = [0, *range(2, x.dim())]
            return cls(x.mean(dim=dims), x.std(dim=dims, correction=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast over (B, C, ...)
        return (x - self.mean.view(shape)) / self.std.view(shape)


def fuse_inputs(task: Task, *, flatten: bool = False) -> tuple[InputAdapter, ModalityInfo]:
    """The adapter for ``task``'s inputs and the ModalityInfo of the tensor it produces.

    Args:
        task: the task whose ``inputs`` to fuse.
        flatten: always flatten to one tabular vector (what an MLP wants).

    Returns:
        (adapter, info): ``info.kind`` is the input's kind when the inputs concatenate along
        dim 1, else "tabular" with shape (F,).

    Raises:
        ConfigError: text inputs would have to be flattened (token ids are not features).
    """
    keys = sorted(task.inputs)
    infos = [task.inputs[k] for k in keys]
    if not flatten and _concatenable(infos):
        return InputAdapter(keys, "concat"), _concat_info(keys, infos)
    if any(info.kind == "text" for info in infos):
        shown = ", ".join(f"{k} ({i.kind} {i.shape})" for k, i in zip(keys, infos, strict=True))
        raise ConfigError(
            f"model: cannot fuse inputs {shown} of dataset {task.name!r}: token ids only "
            "concatenate with text of the same vocabulary"
        )
    return InputAdapter(keys, "flatten"), _flat_info(keys, infos)


def require_kind(model: str, info: ModalityInfo, kinds: Sequence[Modality], task: Task) -> None:
    """Raise ConfigError unless the fused input ``info`` is one of ``kinds``.

    This catches multi-input tasks whose inputs each fit the model but could only be fused by
    flattening (e.g. an image beside a sequence for a CNN), and text without a vocabulary.
    """
    if info.kind not in kinds:
        shown = ", ".join(f"{k} ({i.kind} {i.shape})" for k, i in sorted(task.inputs.items()))
        raise ConfigError(
            f"model.name: {model!r} cannot fuse inputs {shown} of dataset {task.name!r} "
            f"(they only fuse into a flat vector); use 'mlp' or inputs of one kind and shape"
        )
    if info.kind == "text" and info.vocab_size < 2:
        raise ConfigError(
            f"model.name: {model!r} needs the vocabulary size of dataset {task.name!r}'s text "
            f"input, got vocab_size={info.vocab_size}"
        )


def _concatenable(infos: list[ModalityInfo]) -> bool:
    first = infos[0]
    if len(infos) == 1:
        return True
    if first.kind == "tabular" or any(i.kind != first.kind for i in infos):
        return False
    if first.kind == "text":
        return all(i.vocab_size == first.vocab_size for i in infos)
    return all(i.shape[1:] == first.shape[1:] for i in infos)


def _concat_info(keys: list[str], infos: list[ModalityInfo]) -> ModalityInfo:
    first = infos[0]
    if len(infos) == 1:
        return first
    lead = sum(i.shape[0] for i in infos)
    return ModalityInfo(
        kind=first.kind,
        shape=(lead, *first.shape[1:]),
        bounds=_union_bounds(infos),
        feature_names=_joined_names(keys, infos) if first.kind == "sequence" else (),
        vocab_size=first.vocab_size,
    )


def _flat_info(keys: list[str], infos: list[ModalityInfo]) -> ModalityInfo:
    sizes = [math.prod(i.shape) for i in infos]
    categorical: list[tuple[int, ...]] = []
    offset = 0
    for info, size in zip(infos, sizes, strict=True):
        categorical += [tuple(offset + c for c in group) for group in info.categorical]
        offset += size
    one_per_feature = all(i.kind == "tabular" for i in infos)
    return ModalityInfo(
        kind="tabular",
        shape=(sum(sizes),),
        bounds=_union_bounds(infos),
        feature_names=_joined_names(keys, infos) if one_per_feature else (),
        categorical=tuple(categorical),
    )


def _union_bounds(infos: list[ModalityInfo]) -> tuple[float, float] | None:
    bounds = [i.bounds for i in infos]
    if any(b is None for b in bounds):
        return None
    return min(b[0] for b in bounds if b), max(b[1] for b in bounds if b)


def _joined_names(keys: list[str], infos: list[ModalityInfo]) -> tuple[str, ...]:
    """Feature (channel) names of the fused tensor, as ``input.name`` when there are several."""
    if any(not i.feature_names for i in infos):
        return ()
    if len(infos) == 1:
        return infos[0].feature_names
    return tuple(f"{k}.{n}" for k, i in zip(keys, infos, strict=True) for n in i.feature_names)
