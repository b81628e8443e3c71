"""A batch as attribution methods see it (inputs, baselines, unit layout), and method dispatch.

Images, sequences and tabular inputs are attributed as they are; text is attributed in the
embedding space of the model's token embedding (one score per token after summing over the
embedding dimensions), for several members in the space of all their embeddings side by side.
A multi-input task gets one attribution tensor per input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fivefold.data.task import Inputs, Modality, ModalityInfo, Split, Task
from fivefold.pillars.interpretability.attributions import (
    Forward,
    IGMethod,
    Tensors,
    gradient_shap,
    input_x_gradient,
    integrated_gradients,
    saliency,
)
from fivefold.pillars.interpretability.faithfulness import Pool, unit_scores
from fivefold.training.forwards import DictForward, EmbeddingForward
from fivefold.training.subject import Ensemble

__all__ = [
    "METHODS",
    "BaselineKind",
    "Method",
    "MethodSettings",
    "Space",
    "attribute",
    "build_space",
    "gaussian_blur",
    "take",
]

Method = Literal["integrated_gradients", "saliency", "gradient_shap", "input_x_gradient"]
METHODS: tuple[Method, ...] = (
    "integrated_gradients",
    "saliency",
    "gradient_shap",
    "input_x_gradient",
)
BaselineKind = Literal["auto", "zeros", "mean", "blur"]


@dataclass(frozen=True)
class Space:
    """A batch of B samples in attribution space.

    Attributes:
        forward: ``forward(*inputs, *extra)`` → (N, C) logits.
        inputs: attributed tensors (B, ...): the inputs, or token embeddings (B, L, D) for text.
        extra: the (B, L) token ids of text inputs (attributed in embedding space), else ().
        baselines: (B, ...) reference per input (IG's start point; what deletion inserts).
        distribution: (K, ...) per input, GradientShap's baselines.
        scale: per input, the spread of its values (noise and radii are fractions of it).
        pool: per input, the per-sample axis pooled into one unit, or None (see faithfulness).
        valid: (B, U) units that take part (padding tokens do not).
        kinds: per input, its modality kind.
        keys: per input, its name in the task.
    """

    forward: Forward
    inputs: Tensors
    extra: Tensors
    baselines: Tensors
    distribution: Tensors
    scale: tuple[float, ...]
    pool: Pool
    valid: Tensor
    kinds: tuple[Modality, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class MethodSettings:
    """Options of the attribution methods (see the interpretability pillar's config)."""

    ig_steps: int = 50
    ig_method: IGMethod = "gausslegendre"
    shap_samples: int = 16
    shap_noise: float = 0.05
    max_rows: int = 4096


def take(space: Space, rows: Tensor) -> Space:
    """The samples ``rows`` (1-D int64, repeats allowed) of ``space``."""
    return replace(
        space,
        inputs=tuple(t[rows] for t in space.inputs),
        extra=tuple(t[rows] for t in space.extra),
        baselines=tuple(t[rows] for t in space.baselines),
        valid=space.valid[rows],
    )


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """(B, C, *S) → the same shape blurred along every spatial axis (borders renormalised)."""
    radius = max(1, math.ceil(2 * sigma))
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    for axis in range(2, x.dim()):
        moved = x.movedim(axis, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        num = F.conv1d(flat, kernel, padding=radius)
        den = F.conv1d(torch.ones_like(flat[:1]), kernel, padding=radius)
        x = (num / den).reshape(moved.shape).movedim(-1, axis)
    return x


def _mean(kind: Modality, train: Tensor) -> Tensor:
    """Training mean: per channel for images and sequences, per feature for tabular."""
    dims = (0,) if kind == "tabular" else (0, *range(2, train.dim()))
    return train.float().mean(dim=dims, keepdim=True)


def _baseline(info: ModalityInfo, x: Tensor, train: Tensor, how: BaselineKind) -> Tensor:
    """(B or 1, ...) baseline of a non-text input."""
    if how == "auto":
        how = "zeros" if info.kind == "image" else "mean"
    if how == "blur" and info.kind in ("image", "sequence"):
        return gaussian_blur(x, sigma=max(1.0, min(x.shape[2:]) / 8))
    if how == "zeros":
        return torch.zeros_like(x[:1])
    return _mean(info.kind, train)


def _scale(info: ModalityInfo, train: Tensor) -> float:
    if info.kind == "image" and info.bounds is not None:
        return float(info.bounds[1] - info.bounds[0])
    return float(train.float().std()) or 1.0


def _split_tensors(x: Inputs, keys: tuple[str, ...]) -> Tensors:
    return tuple(x[k] for k in keys) if isinstance(x, dict) else (x,)


class MembersEmbeddingForward:
    """``forward(embeddings, *ids)`` of several text members joined by their combiner.

    ``embeddings`` (B, L, D_1 + ... + D_K) holds every member's token embeddings side by side;
    member k reads its own slice, so one attribution covers every member's embedding and IG's
    completeness holds for the ensemble as a whole.

    Args:
        model: the members' :class:`~fivefold.training.subject.Ensemble`.
        keys: input names when the members take a dict of token-id tensors, else None.
    """

    def __init__(self, model: Ensemble, keys: tuple[str, ...] | None) -> None:
        self.combiner = model.combiner
        self.parts = [EmbeddingForward(member, keys) for member in model.members]
        self.sizes = [part.embedding.embedding_dim for part in self.parts]

    def __call__(self, embeddings: Tensor, *ids: Tensor) -> Tensor:
        slices = torch.split(embeddings, self.sizes, dim=-1)
        out: Tensor = self.combiner([p(e, *ids) for p, e in zip(self.parts, slices, strict=True)])
        return out

    def embed(self, *ids: Tensor) -> Tensor:
        """(B, L, D_1 + ... + D_K) every member's token embeddings of ``ids``."""
        return torch.cat([part.embed(*ids) for part in self.parts], dim=-1)

    def weight_std(self) -> float:
        """The spread of all members' embedding weights."""
        return float(torch.cat([p.embedding.weight.detach().flatten() for p in self.parts]).std())


def _text_space(model: nn.Module, split: Split, keys: tuple[str, ...]) -> Space:
    ids = _split_tensors(split.x, keys)
    names = keys if isinstance(split.x, dict) else None
    forward: EmbeddingForward | MembersEmbeddingForward
    if isinstance(model, Ensemble):
        forward = MembersEmbeddingForward(model, names)
        scale = forward.weight_std() or 1.0
    else:
        forward = EmbeddingForward(model, names)
        scale = float(forward.embedding.weight.detach().std()) or 1.0
    emb = forward.embed(*ids)  # (B, L, D)
    pad = forward.embed(*(torch.zeros_like(i[:1]) for i in ids))  # (1, L, D) padding tokens
    valid = torch.cat([i != 0 for i in ids], dim=1)
    if valid.shape[1] != emb.shape[1]:
        valid = torch.ones(emb.shape[:2], dtype=torch.bool)
    kinds: tuple[Modality, ...] = ("text",)
    base = (pad.expand_as(emb),)
    return Space(
        forward, (emb,), ids, base, (pad,), (scale,), (-1,), valid, kinds, ("+".join(keys),)
    )


def build_space(
    model: nn.Module,
    task: Task,
    split: Split,
    baseline: BaselineKind = "auto",
    distribution: Split | None = None,
) -> Space:
    """The samples of ``split`` in attribution space.

    Args:
        model: the classifier, in eval mode.
        task: gives the inputs' kinds, bounds and the training data.
        split: the samples to explain.
        baseline: "auto" (black image, training mean for sequences and tabular), "zeros",
            "mean" (per channel / feature) or "blur" (images and sequences); text always uses
            padding tokens.
        distribution: GradientShap's baseline rows, e.g. a random subset of the training split
            (default: its first 32 rows); text uses the padding baseline instead.

    Returns:
        the Space of ``split``.
    """
    keys = tuple(sorted(task.inputs))
    if any(task.inputs[k].kind == "text" for k in keys):
        return _text_space(model, split, keys)
    xs, train = _split_tensors(split.x, keys), _split_tensors(task.train.x, keys)
    if distribution is None:
        distribution = task.train.subset(torch.arange(min(32, len(task.train))))
    infos = [task.inputs[k] for k in keys]
    bases = tuple(
        _baseline(i, x, t, baseline).expand_as(x) for i, x, t in zip(infos, xs, train, strict=True)
    )
    pool: Pool = tuple(0 if i.kind == "image" else None for i in infos)
    forward: Forward = DictForward(model, keys) if isinstance(split.x, dict) else model
    valid = torch.ones_like(unit_scores(xs, pool), dtype=torch.bool)
    scale = tuple(_scale(i, t) for i, t in zip(infos, train, strict=True))
    kinds = tuple(i.kind for i in infos)
    dist = _split_tensors(distribution.x, keys)
    return Space(forward, xs, (), bases, dist, scale, pool, valid, kinds, keys)


def attribute(
    method: Method,
    space: Space,
    target: Tensor,
    settings: MethodSettings,
    generator: torch.Generator,
) -> Tensors:
    """Attributions of ``method`` for every sample of ``space`` towards classes ``target`` (B,)."""
    fwd, x, extra, rows = space.forward, space.inputs, space.extra, settings.max_rows
    if method == "integrated_gradients":
        return integrated_gradients(
            fwd,
            x,
            space.baselines,
            target,
            extra=extra,
            n_steps=settings.ig_steps,
            method=settings.ig_method,
            max_rows=rows,
        )
    if method == "saliency":
        return saliency(fwd, x, target, extra=extra, max_rows=rows)
    if method == "input_x_gradient":
        return input_x_gradient(fwd, x, target, extra=extra, max_rows=rows)
    noise = [settings.shap_noise * s for s in space.scale]
    return gradient_shap(
        fwd, x, space.distribution, target, extra=extra, n_samples=settings.shap_samples,
        stdevs=noise, generator=generator, max_rows=rows,
    )  # fmt: skip
