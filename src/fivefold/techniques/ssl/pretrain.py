"""The pretraining loop and what it needs: a re-seeded encoder, pool statistics, an objective.

Everything here draws from its own seeded streams (``pretrain_seed``) and runs inside
``torch.random.fork_rng``, so pretraining gives the same weights in any trial and leaves the
global random state — and with it the fine-tuning that follows — untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from fivefold.data.task import ModalityInfo
from fivefold.errors import TrainingError
from fivefold.models.inputs import Encoder, Standardize
from fivefold.seeding import child_seed, torch_generator
from fivefold.training.schedule import lr_factor

__all__ = [
    "channel_stats",
    "pool_standardize",
    "recalibrate_norms",
    "reinitialise",
    "run_pretraining",
]

Objective = Callable[[nn.Module, dict[str, torch.Tensor], torch.Generator], torch.Tensor]


def reinitialise(encoder: nn.Module, seed: int) -> None:
    """Re-draw the encoder's initial weights from ``seed`` (its submodules' own initialisers)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, "ssl", "init"))
        for module in encoder.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
            init = getattr(module, "_init_weights", None)
            if callable(init):
                init()


def channel_stats(x: torch.Tensor, info: ModalityInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of a numeric input over samples (and space/time), shaped (1, C, ...)."""
    x = x.float()
    dims = [0, *range(2, x.dim())] if info.kind in ("image", "sequence") else [0]
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, correction=0).clamp(min=1e-6)
    return mean, std


def pool_standardize(encoder: nn.Module, pool: dict[str, torch.Tensor], single: bool) -> None:
    """Point the encoder's input :class:`Standardize` layers at the pool's statistics.

    A model fits them on its labelled training rows, which differ between label fractions;
    the pool is the same for all of them, so pretraining (and its cache) stays shared.
    """
    layers = [m for m in encoder.modules() if isinstance(m, Standardize)]
    if not layers or not isinstance(encoder, Encoder):
        return
    with torch.no_grad():
        x = encoder.adapter(pool["x"] if single else pool).float()  # (N, C, ...)
        dims = [0, *range(2, x.dim())]
        mean, std = x.mean(dim=dims), x.std(dim=dims, correction=0).clamp(min=1e-6)
        for layer in layers:
            if layer.mean.shape == mean.shape:
                layer.mean.copy_(mean)
                layer.std.copy_(std)


def _steps(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a trailing batch of one sample joins the previous one."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def run_pretraining(
    encoder: nn.Module,
    objective: nn.Module,
    pool: dict[str, torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> list[float]:
    """Train ``encoder`` and ``objective`` to minimise the objective on ``pool``.

    AdamW, one warmup epoch then cosine decay, gradient-norm clipping at 1.

    Returns:
        the mean loss of each epoch.
    """
    n = len(next(iter(pool.values())))
    bounds = _steps(n, min(batch_size, n))
    params = [p for p in [*encoder.parameters(), *objective.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = epochs * len(bounds)
    warmup = min(len(bounds), total // 2)
    curve: list[float] = []
    g = torch_generator(seed, "ssl", "draws")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, "ssl", "dropout"))
        encoder.train()
        objective.train()
        for epoch in range(epochs):
            order = torch.randperm(n, generator=g)
            losses = []
            for i, (start, stop) in enumerate(bounds):
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_factor(epoch * len(bounds) + i, warmup, total, "cosine")
                idx = order[start:stop]
                loss = objective(encoder, {k: v[idx] for k, v in pool.items()}, g)
                if not bool(torch.isfinite(loss)):
                    raise TrainingError(
                        f"ssl: the pretraining loss became {float(loss.detach())} at epoch "
                        f"{epoch + 1}; lower the ssl lr"
                    )
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
            curve.append(math.fsum(losses) / len(losses))
    return curve


def recalibrate_norms(
    encoder: nn.Module, pool: dict[str, torch.Tensor], batch_size: int, single: bool
) -> None:
    """Re-estimate batch-norm running statistics on the clean (unmasked, unaugmented) pool.

    Pretraining feeds masked or augmented inputs, so the running statistics it leaves behind
    describe those; fine-tuning on a few labels updates them only slowly, and early stopping
    would judge the first epochs with the wrong ones. One pass over the pool averages the
    statistics of its batches (every other layer in evaluation mode).
    """
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    n = len(next(iter(pool.values())))
    momenta = [m.momentum for m in norms]
    encoder.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
        m.train()
    with torch.no_grad():
        for start, stop in _steps(n, min(batch_size, n)):
            batch = {k: v[start:stop] for k, v in pool.items()}
            encoder(batch["x"] if single else batch)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    encoder.eval()
