"""K same-architecture models as one wide model: stacked parameters, batched matmuls, grouped
convolutions.

Small models on a CPU are bound by per-step overhead, not arithmetic: training K members one
after another pays that overhead K times. :func:`stack_models` builds one module whose every
parameter and buffer is the K members' tensors stacked on a new leading axis, under the same
names (``stacked.state_dict()[name][k]`` is member k's ``state_dict()[name]``), and whose
forward maps K batches (K, B, ...) to K outputs (K, B, C) in one pass:

- ``nn.Linear`` → one ``torch.baddbmm`` over (K, B, in) rows;
- ``nn.Conv1d``/``nn.Conv2d`` → one convolution with ``groups = K`` over the (B, K*C, ...)
  channel layout; batch norm and group norm over that layout are exactly the members' own
  (statistics are per channel, or per contiguous channel group); 2-D maps are kept
  channels-last, where pooling, norms and grouped convolutions are fastest on a CPU;
- layer norm, activations, pooling act per sample; dropout draws each member's mask from that
  member's own random stream, in the order the member alone would draw it.

Member k therefore computes what it computes alone, up to float rounding of the batched
kernels. Anything else (recurrent layers, attention, adapters, a user's module) is not
stackable: :func:`stack_models` raises :class:`UnstackableError` naming the module, and callers
train the members one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs
from fivefold.models.base import Classifier
from fivefold.models.cnn import ConvNet1d, ConvNet2d
from fivefold.models.dropout import Dropout, dropout_mask, dropout_masks
from fivefold.models.inputs import Encoder, InputAdapter

__all__ = ["StackedModel", "UnstackableError", "stack_inputs", "stack_models"]

Layout = Literal["rows", "channels"]
_ELEMENTWISE = (nn.ReLU, nn.GELU, nn.Identity, nn.Tanh, nn.Sigmoid)


class UnstackableError(ValueError):
    """The members cannot be trained as one wide model (the message says which module)."""


def _stacked(tensors: Sequence[torch.Tensor], requires_grad: bool) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone(), requires_grad)


def _same(mods: Sequence[nn.Module], where: str) -> None:
    first = mods[0]
    for m in mods[1:]:
        if type(m) is not type(first) or m.extra_repr() != first.extra_repr():
            raise UnstackableError(f"{where}: the members differ ({first!r} vs {m!r})")
    for name, p in first.named_parameters(recurse=False):
        for m in mods[1:]:
            q = getattr(m, name)
            if q.shape != p.shape or q.requires_grad != p.requires_grad:
                raise UnstackableError(f"{where}.{name}: the members' parameters differ")


def _param(mods: Sequence[nn.Module], name: str) -> nn.Parameter | None:
    first = getattr(mods[0], name)
    if first is None:
        return None
    return _stacked([getattr(m, name) for m in mods], first.requires_grad)


class StackedLinear(nn.Module):
    """K ``nn.Linear`` layers: (K, B, in) → (K, B, out) in one ``baddbmm``."""

    def __init__(self, mods: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = _param(mods, "weight")  # (K, out, in)
        self.bias = _param(mods, "bias")  # (K, out) or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.weight is not None
        out: torch.Tensor = _BatchedLinear.apply(x, self.weight, self.bias)  # type: ignore[no-untyped-call]
        return out


class _BatchedLinear(torch.autograd.Function):
    """``x @ w^T + b`` over K members whose backward writes each gradient in its parameter's
    own layout: autograd's transpose would hand back a transposed weight gradient that the
    gradient accumulator then copies (a quarter of a stacked MLP step on a CPU)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None  # type: ignore[attr-defined]
        w = weight.transpose(1, 2)
        return torch.bmm(x, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, w)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        x, weight = ctx.saved_tensors  # type: ignore[attr-defined]
        needs = ctx.needs_input_grad  # type: ignore[attr-defined]
        grad_x = torch.bmm(grad, weight) if needs[0] else None
        grad_w = torch.bmm(grad.transpose(1, 2), x) if needs[1] else None  # (K, out, in)
        grad_b = grad.sum(1) if ctx.has_bias and needs[2] else None  # type: ignore[attr-defined]
        return grad_x, grad_w, grad_b


class StackedConv(nn.Module):
    """K ``nn.Conv1d``/``nn.Conv2d`` layers as one grouped convolution over (B, K*C, ...)."""

    def __init__(self, mods: Sequence[nn.Conv1d | nn.Conv2d]) -> None:
        super().__init__()
        first = mods[0]
        if first.padding_mode != "zeros":
            raise UnstackableError(f"{first!r}: only zero padding is stackable")
        self.k, self.dims = len(mods), 1 if isinstance(first, nn.Conv1d) else 2
        self.stride, self.padding = first.stride, first.padding
        self.dilation, self.groups = first.dilation, first.groups
        self.weight = _param(mods, "weight")  # (K, out, in/groups, *kernel)
        self.bias = _param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.weight is not None
        w = self.weight.flatten(0, 1)  # (K*out, in/groups, *kernel)
        b = None if self.bias is None else self.bias.flatten()
        conv = F.conv1d if self.dims == 1 else F.conv2d
        out: torch.Tensor = conv(
            x, w, b, self.stride, self.padding, self.dilation, self.groups * self.k
        )
        return out


class StackedBatchNorm(nn.Module):
    """K batch norms over (K, B, C) rows or the (B, K*C, ...) channel layout: per-channel
    statistics, so one ``F.batch_norm`` over K*C channels is each member's own."""

    def __init__(self, mods: Sequence[nn.modules.batchnorm._BatchNorm], layout: Layout) -> None:
        super().__init__()
        first = mods[0]
        if first.momentum is None:
            raise UnstackableError(f"{first!r}: a cumulative-average batch norm is not stackable")
        self.layout, self.eps, self.momentum = layout, first.eps, first.momentum
        self.track = first.track_running_stats
        self.k = len(mods)
        self.weight = _param(mods, "weight")
        self.bias = _param(mods, "bias")
        self.running_mean: torch.Tensor | None
        self.running_var: torch.Tensor | None
        self.num_batches_tracked: torch.Tensor | None
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            buffers = [getattr(m, name) for m in mods]
            self.register_buffer(name, None if buffers[0] is None else torch.stack(buffers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.k
        h = x.transpose(0, 1).flatten(1, 2) if self.layout == "rows" else x  # (B, K*C, ...)
        use_batch = self.training or not self.track
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        out = F.batch_norm(
            h,
            None if self.running_mean is None else self.running_mean.view(-1),
            None if self.running_var is None else self.running_var.view(-1),
            None if self.weight is None else self.weight.view(-1),
            None if self.bias is None else self.bias.view(-1),
            use_batch,
            self.momentum,
            self.eps,
        )
        if self.layout == "rows":
            return out.view(out.shape[0], k, -1).transpose(0, 1)
        return out


class StackedGroupNorm(nn.Module):
    """K group norms over the (B, K*C, ...) layout: K*G contiguous channel groups."""

    def __init__(self, mods: Sequence[nn.GroupNorm]) -> None:
        super().__init__()
        first = mods[0]
        self.k, self.groups, self.eps = len(mods), first.num_groups, first.eps
        self.weight = _param(mods, "weight")
        self.bias = _param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = None if self.weight is None else self.weight.flatten()
        b = None if self.bias is None else self.bias.flatten()
        return F.group_norm(x, self.groups * self.k, w, b, self.eps)


class StackedLayerNorm(nn.Module):
    """K layer norms over (K, B, ..., D) rows."""

    def __init__(self, mods: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        first = mods[0]
        self.shape, self.eps = tuple(first.normalized_shape), first.eps
        self.weight = _param(mods, "weight")
        self.bias = _param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.layer_norm(x, self.shape, None, None, self.eps)
        view = (x.shape[0],) + (1,) * (x.dim() - 1 - len(self.shape)) + self.shape
        if self.weight is not None:
            out = out * self.weight.view(view)
        if self.bias is not None:
            out = out + self.bias.view(view)
        return out


class StackedDropout(nn.Module):
    """Dropout on (K, B, ...) rows, member k's mask drawn from its own generator: the draw a
    lone :class:`~fivefold.models.dropout.Dropout` makes from the global stream seeded alike
    (no streams: one mask from the global stream)."""

    def __init__(
        self, p: float, streams: list[torch.Generator], *, torch_mask: bool = False
    ) -> None:
        super().__init__()
        self.p, self.streams, self.torch_mask = p, streams, torch_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.torch_mask:  # members of torch's own nn.Dropout: its Bernoulli draws
            return self._bernoulli(x)
        if not self.streams:
            mask = dropout_mask(x.shape, self.p, dtype=x.dtype, device=x.device)
            return x if mask is None else x * mask
        masks = dropout_masks(x.shape[1:], self.p, self.streams, dtype=x.dtype, device=x.device)
        return x if masks is None else x * masks

    def _bernoulli(self, x: torch.Tensor) -> torch.Tensor:
        if not self.streams:
            return F.dropout(x, self.p, True)
        keep = 1 - self.p
        noise = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for k, g in enumerate(self.streams):  # in place: the same draws as a fresh tensor
            noise[k].bernoulli_(keep, generator=g)
        return x * noise.div_(keep)


def _stack_sequential(
    mods: Sequence[nn.Sequential], layout: Layout, streams: list[torch.Generator], where: str
) -> nn.Sequential:
    lengths = {len(m) for m in mods}
    if len(lengths) != 1:
        raise UnstackableError(f"{where}: the members have different numbers of layers")
    layers = [
        _stack_layer([m[i] for m in mods], layout, streams, f"{where}.{i}")
        for i in range(len(mods[0]))
    ]
    return nn.Sequential(*layers)


def _stack_layer(  # noqa: PLR0911 - one return per supported layer kind
    mods: Sequence[nn.Module], layout: Layout, streams: list[torch.Generator], where: str
) -> nn.Module:
    _same(mods, where)
    first = mods[0]
    kind = type(first)
    if kind is nn.Sequential:
        return _stack_sequential(mods, layout, streams, where)  # type: ignore[arg-type]
    if kind is nn.Linear and layout == "rows":
        return StackedLinear(mods)  # type: ignore[arg-type]
    if kind in (nn.Conv1d, nn.Conv2d) and layout == "channels":
        return StackedConv(mods)  # type: ignore[arg-type]
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        return StackedBatchNorm(mods, layout)  # type: ignore[arg-type]
    if kind is nn.GroupNorm and layout == "channels":
        return StackedGroupNorm(mods)  # type: ignore[arg-type]
    if kind is nn.LayerNorm and layout == "rows":
        return StackedLayerNorm(mods)  # type: ignore[arg-type]
    if kind in (Dropout, nn.Dropout) and layout == "rows":
        p = float(first.p)  # type: ignore[arg-type]
        return StackedDropout(p, streams, torch_mask=kind is nn.Dropout)
    if kind in _ELEMENTWISE or (kind is nn.MaxPool2d and layout == "channels"):
        return first  # no parameters, acts per sample and channel
    raise UnstackableError(f"{where}: {kind.__name__} is not stackable in the {layout} layout")


class _StackedConvNet(nn.Module):
    """K ConvNet1d/ConvNet2d bodies: (K, B, C, ...) → (K, B, C')."""

    def __init__(
        self, mods: Sequence[ConvNet1d | ConvNet2d], streams: list[torch.Generator], where: str
    ) -> None:
        super().__init__()
        self.blocks = _stack_sequential([m.blocks for m in mods], "channels", streams, where)
        drop = mods[0].dropout
        self.dropout = StackedDropout(drop.p, streams, torch_mask=type(drop) is nn.Dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b = x.shape[:2]
        h = x.transpose(0, 1).flatten(1, 2)  # (B, K*C, ...)
        if h.dim() == 4:  # faster pooling, norms and grouped convolutions on CPU
            h = h.contiguous(memory_format=torch.channels_last)
        h = self.blocks(h)
        pooled = h.mean(dim=tuple(range(2, h.dim())))  # (B, K*C')
        out: torch.Tensor = self.dropout(pooled.view(b, k, -1).transpose(0, 1))
        return out


class _StackedEncoder(nn.Module):
    """K Encoders: the shared input adapter over K*B rows, then the stacked body."""

    def __init__(self, mods: Sequence[Encoder], streams: list[torch.Generator]) -> None:
        super().__init__()
        adapter = mods[0].adapter
        if not isinstance(adapter, InputAdapter) or any(
            m.adapter.extra_repr() != adapter.extra_repr() for m in mods
        ):
            raise UnstackableError("encoder.adapter: the members fuse their inputs differently")
        self.adapter = adapter
        bodies = [m.body for m in mods]
        kind = type(bodies[0])
        if any(type(b) is not kind for b in bodies):
            raise UnstackableError("encoder.body: the members have different architectures")
        self.body: nn.Module
        if kind in (ConvNet1d, ConvNet2d):
            self.body = _StackedConvNet(bodies, streams, "encoder.body")  # type: ignore[arg-type]
        elif kind in (nn.Sequential, nn.Identity):
            self.body = _stack_layer(bodies, "rows", streams, "encoder.body")
        else:
            raise UnstackableError(f"encoder.body: {kind.__name__} is not stackable")

    def forward(self, x: Inputs, k: int) -> torch.Tensor:
        flat = (
            {n: t.flatten(0, 1) for n, t in x.items()} if isinstance(x, dict) else x.flatten(0, 1)
        )
        a = self.adapter(flat)  # (K*B, ...)
        out: torch.Tensor = self.body(a.view(k, -1, *a.shape[1:]))
        return out


class StackedModel(nn.Module):
    """K fivefold Classifiers (MLP or CNN) as one module: (K, B, ...) inputs → (K, B, C).

    ``state_dict()`` has the members' names with a leading K axis; :meth:`member_state` gives
    member k's own state dict back.

    Args:
        members: K models of one architecture (see :func:`stack_models`).
        streams: member k's dropout generator at index k (empty: the global stream).
    """

    def __init__(self, members: Sequence[Classifier], streams: list[torch.Generator]) -> None:
        super().__init__()
        self.k = len(members)
        self.streams = streams
        self.encoder = _StackedEncoder([m.encoder for m in members], streams)  # type: ignore[misc]
        self.head = StackedLinear([m.head for m in members])

    def forward(self, x: Inputs) -> torch.Tensor:
        """(K, B, C) logits of K batches ``x`` (K, B, ...) (or a dict of such)."""
        out: torch.Tensor = self.head(self.encoder(x, self.k))
        return out

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s state dict (copies)."""
        return {name: t[k].clone() for name, t in self.state_dict().items()}


def stack_models(
    members: Sequence[nn.Module], streams: list[torch.Generator] | None = None
) -> StackedModel:
    """One wide model of ``members`` (the members are not changed).

    Args:
        members: K >= 1 fivefold Classifiers of one architecture, built alike (``mlp`` or
            ``cnn``, any of their options).
        streams: member k's dropout generator at index k; None: the global stream.

    Raises:
        UnstackableError: a member is not a plain fivefold MLP/CNN Classifier, or the members
            differ; the message names the module.
    """
    if not members:
        raise UnstackableError("no members to stack")
    if any(type(m) is not Classifier for m in members):
        raise UnstackableError("only fivefold's mlp and cnn models are stackable")
    names = [tuple(m.state_dict()) for m in members]
    if any(n != names[0] for n in names):
        raise UnstackableError("the members' parameter names differ")
    stacked = StackedModel(members, streams if streams is not None else [])  # type: ignore[arg-type]
    if tuple(stacked.state_dict()) != names[0]:
        raise UnstackableError("the stacked model does not mirror the members' parameters")
    return stacked


def stack_inputs(parts: Sequence[Inputs]) -> Inputs:
    """K inputs of B rows each (tensors or modality dicts) → (K, B, ...)."""
    first = parts[0]
    if isinstance(first, dict):
        return {n: torch.stack([p[n] for p in parts]) for n in first}  # type: ignore[index]
    return torch.stack(parts)  # type: ignore[arg-type]
