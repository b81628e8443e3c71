"""The one training loop: plain code, readable top to bottom, with the technique hook points.

``fit`` trains a model on ``task.train`` with in-memory batching, AdamW (or Adam/SGD), linear
warmup + cosine decay, gradient clipping and early stopping on the validation split; it logs one
JSON line per epoch and keeps the best weights. Techniques plug in through the hooks of
:mod:`fivefold.training.hooks`; :func:`compose_fit` applies their ``wrap_fit`` layers.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Split, Task, index_inputs
from fivefold.errors import TrainingError
from fivefold.seeding import torch_generator
from fivefold.training.checkpoint import save_weights
from fivefold.training.config import TrainConfig
from fivefold.training.hooks import (
    Batch,
    EpochCallback,
    FitContext,
    FitFn,
    FitResult,
    StepOutput,
    Technique,
)
from fivefold.training.predict import score_split
from fivefold.training.schedule import lr_factor

__all__ = [
    "EpochCallback",
    "FitContext",
    "FitResult",
    "compose_fit",
    "cross_entropy_step",
    "fit",
    "validation_note",
]


def compose_fit(techniques: Sequence[Technique], base: FitFn) -> FitFn:
    """``wrap_fit_1(wrap_fit_2(...base))``: the first listed technique is outermost."""
    fit_fn = base
    for technique in reversed(techniques):
        fit_fn = technique.wrap_fit(fit_fn)
    return fit_fn


def cross_entropy_step(model: nn.Module, batch: Batch) -> StepOutput:
    """The default objective: cross-entropy with hard labels or soft targets."""
    logits = model(batch.x)
    if batch.target is not None:
        loss = torch.sum(-batch.target * F.log_softmax(logits, dim=1), dim=1).mean()
    else:
        loss = F.cross_entropy(logits, batch.y)
    return StepOutput(loss, logits)


def fit(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
    """Train ``model`` on ``task.train``, early-stopping on ``task.val``; return the best model.

    Raises:
        TrainingError: the loss became NaN or infinite.
    """
    cfg = ctx.train.resolved(len(task.train))
    epochs = cfg.max_epochs
    for technique in ctx.techniques:
        model = technique.adapt_model(model, ctx)
    owner = next((t for t in ctx.techniques if t.owns_loss), None)
    ctx.generator = torch_generator(ctx.seed, "batches")
    train = task.train
    steps_per_epoch = _steps_per_epoch(len(train), cfg.batch_size)
    optimizer = _make_optimizer(model, cfg, ctx.lr_scale)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup, total, cfg.schedule)
    )
    stopper = _EarlyStopper(cfg, len(task.val))
    files = ctx.files_dir
    if files is not None:
        files.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for epoch in range(epochs):
        ctx.epoch = epoch
        model.train()
        order = torch.randperm(len(train), generator=ctx.generator)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            batch = _batch(train, idx)
            for technique in ctx.techniques:
                batch = technique.adapt_batch(batch, model, ctx)
            out = (owner.loss(model, batch, ctx) if owner else None) or cross_entropy_step(
                model, batch
            )
            for technique in ctx.techniques:
                extra = technique.penalty(model, ctx)
                if extra is not None:
                    out.loss = out.loss + extra
            _check_finite(out.loss, epoch, i)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(out.loss)
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            ctx.step += 1
            loss_sum += float(out.loss.detach()) * len(idx)
            seen += len(idx)
            if out.logits is not None:
                correct += int((out.logits.argmax(1) == batch.y[: len(out.logits)]).sum())
        record = _epoch_record(model, task.val, cfg, epoch, loss_sum / seen, correct / seen)
        record["lr"] = cfg.lr * lr_factor(scheduler.last_epoch, warmup, total, cfg.schedule)
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        _log_epoch(files, record)
        if ctx.on_epoch:
            ctx.on_epoch(epoch + 1, epochs, record)
        if stopper.update(record, model):
            break
    stopper.restore(model)
    if cfg.checkpoint and files is not None:
        save_weights(model, files / "model.safetensors")
    return FitResult(
        model=model,
        history=history,
        best_epoch=stopper.best_epoch,
        stopped_early=len(history) < epochs,
        train_seconds=time.perf_counter() - start,
        extras=dict(ctx.extras),
    )


def _steps_per_epoch(n: int, batch_size: int) -> int:
    # A trailing batch of one sample breaks batch norm; fold it into the previous step.
    steps = math.ceil(n / batch_size)
    return steps - 1 if steps > 1 and n % batch_size == 1 else steps


def _batch(split: Split, idx: torch.Tensor) -> Batch:
    group = None if split.group is None else split.group[idx]
    return Batch(index_inputs(split.x, idx), split.y[idx], None, group)


def _make_optimizer(
    model: nn.Module, cfg: TrainConfig, lr_scale: dict[str, float]
) -> torch.optim.Optimizer:
    # Every parameter goes in: frozen ones get no gradient and are skipped by the optimizer,
    # and a technique may unfreeze them later (gradual unfreezing).
    by_scale: dict[float, list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        by_scale.setdefault(lr_scale.get(name, 1.0), []).append(param)
    groups: list[dict[str, Any]] = [
        {"params": params, "lr": cfg.lr * scale, "lr_scale": scale}
        for scale, params in by_scale.items()
    ]
    # torch's CPU default is one kernel per parameter tensor; the fused kernel does the same
    # elementwise update in one call (a fifth of a small MLP's step), where torch has one
    try:
        return _optimizer_of(groups, cfg, {"fused": True})
    except (RuntimeError, TypeError):  # no fused kernel for these parameters or device
        return _optimizer_of(groups, cfg, {"foreach": True})


def _optimizer_of(
    groups: list[dict[str, Any]], cfg: TrainConfig, flags: dict[str, Any]
) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **flags
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **flags)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **flags)


def _check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not bool(torch.isfinite(loss)):
        raise TrainingError(
            f"the training loss became {float(loss.detach())} at epoch {epoch + 1}, "
            f"step {step + 1}; "
            "lower train.lr, keep train.grad_clip set, or check the data for extreme values"
        )


def _epoch_record(
    model: nn.Module, val: Split, cfg: TrainConfig, epoch: int, loss: float, acc: float
) -> dict[str, float]:
    scores = score_split(model, val, cfg.eval_batch_size)
    return {
        "epoch": epoch + 1,
        "train_loss": loss,
        "train_accuracy": acc,
        "val_loss": scores.loss,
        "val_accuracy": scores.accuracy,
    }


def _log_epoch(workdir: Path | None, record: dict[str, float]) -> None:
    if workdir is None:
        return
    with (workdir / "history.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def validation_note(cfg: TrainConfig, n_val: int) -> str | None:
    """The line saying that ``n_val`` validation rows are too few to select an epoch on, so
    that training keeps the last epoch's weights without early stopping; None when they are
    enough (``train.min_val_rows``) or nothing is selected anyway."""
    if n_val >= cfg.min_val_rows or (cfg.patience is None and not cfg.restore_best):
        return None
    return (
        f"small validation split: it holds {n_val} rows, fewer than train.min_val_rows = "
        f"{cfg.min_val_rows}: too few to select an epoch on, so early stopping is off and the "
        "last epoch's weights are kept; raise data.val_fraction for a larger validation split, "
        "or set train.min_val_rows = 0 to select on it anyway"
    )


class _EarlyStopper:
    """Keeps the best weights by the monitored validation metric; says when to stop.

    A validation split smaller than ``train.min_val_rows`` is too noisy to select an epoch on
    (3 rows measure accuracy in steps of a third): early stopping is then off and the last
    epoch's weights are kept (:func:`validation_note` says so).
    """

    def __init__(self, cfg: TrainConfig, n_val: int) -> None:
        """``cfg``: resolved settings (:meth:`TrainConfig.resolved`)."""
        self.monitor = cfg.monitor
        self.select = n_val >= cfg.min_val_rows
        self.patience = cfg.patience_epochs if self.select else None
        self.restore_best = cfg.restore_best and self.select
        self.best = math.inf
        self.best_epoch = 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, record: dict[str, float], model: nn.Module) -> bool:
        if not self.select:
            self.best_epoch = int(record["epoch"])
            return False
        value = record[self.monitor]
        score = -value if self.monitor == "val_accuracy" else value
        if score < self.best or self.state is None:
            self.best, self.best_epoch = score, int(record["epoch"])
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        return self.patience is not None and record["epoch"] - self.best_epoch >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights, where ``restore_best`` asks for them and they were kept."""
        if self.restore_best and self.state is not None:
            model.load_state_dict(self.state)
