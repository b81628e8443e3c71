"""FreeLB: adversarial training of text models in the token-embedding space.

Token ids have no continuous neighbourhood, so the perturbation is added to the output of the
model's token embedding (the first ``nn.Embedding`` of the model, found generically) by a
forward hook; padding positions never move. Each step takes K ascent steps on the perturbation
and accumulates the parameter gradients of all K adversarial losses, each computed with its
own perturbation: the returned loss is their average, so one backward pass in the training
loop gives exactly the accumulated gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from fivefold.data.task import Inputs, Modality, Task
from fivefold.errors import ConfigError
from fivefold.schema import option
from fivefold.seeding import torch_generator
from fivefold.techniques.adversarial.crafting import soft_cross_entropy
from fivefold.techniques.base import TECHNIQUES
from fivefold.training.forwards import find_embedding
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, StepOutput, Technique

__all__ = ["EmbeddingPerturbation", "FreeLB", "FreeLBConfig", "freelb_losses", "token_embedding"]


@dataclass(frozen=True)
class FreeLBConfig:
    """Options of ``freelb``."""

    steps: int = option(3, help="ascent steps K on the embedding perturbation per batch", min=1)
    step_size: float = option(
        0.1, help="ascent step length (absolute, in embedding units)", min=0.0, exclusive_min=True
    )
    eps: float = option(
        1.0,
        help="radius of the perturbation of one text (L2 over all its tokens, or L∞)",
        min=0.0,
        exclusive_min=True,
    )
    norm: Literal["l2", "linf"] = option("l2", help="norm of the perturbation ball")
    init_mag: float = option(
        0.1, help="size of the random start (L2 norm, or L∞ bound); 0: start at zero", min=0.0
    )


def token_embedding(model: nn.Module) -> nn.Embedding:
    """The model's token embedding: its first ``nn.Embedding``.

    Raises:
        ConfigError: the model has none.
    """
    try:
        return find_embedding(model)
    except ValueError:
        raise ConfigError(
            "freelb: the model has no nn.Embedding to perturb; use a text model (text, minilm)"
        ) from None


class EmbeddingPerturbation:
    """A forward hook adding ``delta`` (B, L, E) to the embedding output at non-padding tokens.

    The output may be shorter than L (a model may drop all-padding columns first); ``delta`` is
    cut to its length. Padding positions are found from the embedding's own input ids.

    Args:
        padding_idx: the padding token id.
    """

    def __init__(self, padding_idx: int) -> None:
        self.padding_idx = padding_idx
        self.delta: torch.Tensor | None = None

    def __call__(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self.delta is None:
            return None
        keep = (args[0] != self.padding_idx).unsqueeze(-1).to(output.dtype)  # (B, L', 1)
        return output + self.delta[:, : output.shape[1]] * keep


def _norms(t: torch.Tensor, norm: str) -> torch.Tensor:
    """(B, 1, 1) norms of the per-text perturbations of (B, L, E) ``t``."""
    flat = t.flatten(1)
    out = flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)
    return out.view(-1, 1, 1)


def _init_delta(
    shape: tuple[int, ...], keep: torch.Tensor, cfg: FreeLBConfig, gen: torch.Generator
) -> torch.Tensor:
    noise = (torch.rand(shape, generator=gen) * 2 - 1) * keep  # (B, L, E)
    if cfg.norm == "linf":
        return _project(noise * cfg.init_mag, cfg)
    dims = keep.sum(dim=(1, 2), keepdim=True) * shape[-1]  # real tokens x E, (B, 1, 1)
    return _project(noise * cfg.init_mag / dims.clamp(min=1).sqrt(), cfg)


def _project(delta: torch.Tensor, cfg: FreeLBConfig) -> torch.Tensor:
    if cfg.norm == "linf":
        return delta.clamp(-cfg.eps, cfg.eps)
    return delta * (cfg.eps / _norms(delta, "l2").clamp(min=1e-12)).clamp(max=1.0)


def _ascend(
    delta: torch.Tensor, grad: torch.Tensor, keep: torch.Tensor, cfg: FreeLBConfig
) -> torch.Tensor:
    step = grad.sign() if cfg.norm == "linf" else grad / _norms(grad, "l2").clamp(min=1e-12)
    return _project((delta + cfg.step_size * step) * keep, cfg)


def freelb_losses(
    model: nn.Module,
    x: Inputs,
    target: torch.Tensor,
    cfg: FreeLBConfig,
    gen: torch.Generator,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """The K adversarial losses of one batch, each with its own perturbation.

    Args:
        model: the text classifier, in train mode.
        x: (B, L) token ids (or a one-entry modality dict of them).
        target: (B,) labels or (B, C) soft targets.
        cfg: the FreeLB options.
        gen: random stream of the start.

    Returns:
        the K scalar losses (with graphs to the parameters), the K (B, C) logits and the K
        (B, L, E) perturbations used (detached).
    """
    ids = _token_ids(x)
    embedding = token_embedding(model)
    pad = 0 if embedding.padding_idx is None else int(embedding.padding_idx)
    keep = (ids != pad).unsqueeze(-1).to(embedding.weight.dtype)  # (B, L, 1)
    shape = (*ids.shape, embedding.embedding_dim)
    delta = _init_delta(shape, keep, cfg, gen) if cfg.init_mag > 0 else torch.zeros(shape)
    hook = EmbeddingPerturbation(pad)
    handle = embedding.register_forward_hook(hook)
    losses, logits, deltas = [], [], []
    try:
        for k in range(cfg.steps):
            delta = delta.detach().requires_grad_(True)
            hook.delta = delta
            out = model(x)
            loss = soft_cross_entropy(out, target).mean()
            losses.append(loss)
            logits.append(out.detach())
            deltas.append(delta.detach())
            if k + 1 < cfg.steps:
                (grad,) = torch.autograd.grad(loss, delta, retain_graph=True)
                delta = _ascend(delta.detach(), grad, keep, cfg)
    finally:
        handle.remove()
    return losses, logits, deltas


@TECHNIQUES.register("freelb", help="FreeLB: K-step adversarial training on token embeddings")
class FreeLB(Technique):
    """Adversarial training of text models on the token embeddings, gradients over K steps.

    Each batch starts from a small random perturbation of the embeddings of its real tokens,
    takes ``steps`` normalised ascent steps of ``step_size`` (projected onto the ``eps`` ball
    of each text), and trains on the average of the K adversarial losses, so the parameter
    gradient is the one FreeLB accumulates over its K "free" steps.

    Reference: Zhu et al., "FreeLB: Enhanced Adversarial Training for Natural Language
    Understanding", ICLR 2020.
    """

    Config = FreeLBConfig
    modalities: ClassVar[frozenset[Modality]] = frozenset({"text"})
    owns_loss: ClassVar[bool] = True
    quick: ClassVar[dict[str, object]] = {"steps": 2}

    def __init__(self, name: str, config: FreeLBConfig) -> None:
        super().__init__(name, config)
        self.gen: torch.Generator | None = None

    def wrap_fit(self, fit: FitFn) -> FitFn:
        def fit_freelb(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            self.gen = torch_generator(ctx.seed, self.name)
            cfg: FreeLBConfig = self.config
            ctx.extras[self.name] = {"steps": cfg.steps, "eps": cfg.eps, "norm": cfg.norm}
            return fit(model, task, ctx)

        return fit_freelb

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        token_embedding(model)  # fail before training when there is nothing to perturb
        return model

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> StepOutput:
        if self.gen is None:
            self.gen = torch_generator(ctx.seed, self.name)
        target = batch.y if batch.target is None else batch.target
        losses, logits, _ = freelb_losses(model, batch.x, target, self.config, self.gen)
        loss = torch.stack(losses).mean()
        return StepOutput(loss, logits[0], {"freelb_last_loss": float(losses[-1].detach())})


def _token_ids(x: Inputs) -> torch.Tensor:
    if isinstance(x, dict):
        if len(x) != 1:
            raise ConfigError(
                f"freelb: expects one text input, got {len(x)} ({', '.join(sorted(x))})"
            )
        x = next(iter(x.values()))
    if x.dtype.is_floating_point:
        raise ConfigError("freelb: expects (B, L) integer token ids; use it on text data")
    return x
