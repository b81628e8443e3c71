"""Train K same-architecture models together, each as it would have been trained alone.

:func:`fit_together` is :func:`fivefold.training.fit.fit` for K members at once: one stacked
model (:mod:`fivefold.models.stacked`), one forward/backward per step over K batches, one
AdamW/Adam/SGD step over the stacked parameters (``foreach``), while every member keeps its
own data order (``torch_generator(seed_k, "batches")``), training rows (a bootstrap sample for
bagging), dropout stream, gradient-clipping norm, validation record, early stopping, epoch log
and checkpoint. Member k ends with the weights ``fit`` gives it alone, up to float rounding of
the batched kernels (tests compare them).

What a lone fit of member k must do to be its twin: build the model, then run
``fit(model, task_k, ctx_k)`` with the global random stream in the state ``streams[k]`` holds
(dropout draws from it); :func:`member_stream` captures that state.

Members train together only when nothing in the recipe needs the member as a module of its own:
:func:`why_not_together` says why not otherwise, and callers then train them one by one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, Split, Task, index_inputs
from fivefold.models.stacked import StackedModel, UnstackableError, stack_inputs, stack_models
from fivefold.seeding import torch_generator
from fivefold.training.checkpoint import save_weights
from fivefold.training.config import TrainConfig
from fivefold.training.fit import (
    _check_finite,
    _EarlyStopper,
    _log_epoch,
    _steps_per_epoch,
    fit,
)
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, Technique
from fivefold.training.predict import SplitScores
from fivefold.training.schedule import lr_factor

__all__ = ["fit_members", "fit_together", "member_stream", "why_not_together"]


def member_stream() -> torch.Generator:
    """A generator in the global random stream's current state (a member's dropout stream)."""
    gen = torch.Generator()
    gen.set_state(torch.get_rng_state())
    return gen


def why_not_together(  # noqa: PLR0911 - one return per reason
    models: Sequence[nn.Module],
    ctxs: Sequence[FitContext],
    rows: Sequence[int] | None = None,
    fit_fn: FitFn = fit,
) -> str | None:
    """Why ``models`` cannot train together (None: they can).

    Args:
        models: the members, built alike.
        ctxs: their fit contexts.
        rows: each member's number of training rows (equal sizes are required).
        fit_fn: the fit each member would get alone: it must be the plain loop (a technique
            listed after the one training the members wraps it otherwise).
    """
    if len(models) < 2:
        return "a single model"
    if fit_fn is not fit:
        return "a technique listed after it wraps each member's fit"
    first = ctxs[0]
    if any(c.train != first.train for c in ctxs):
        return "the members' training settings differ"
    if rows is not None and len(set(rows)) > 1:
        return "the members train on different numbers of rows"
    for c in ctxs:
        if c.lr_scale:
            return "a technique sets per-layer learning rates"
        blocker = next((t.name for t in c.techniques if not _batch_only(t)), None)
        if blocker is not None:
            return f"technique {blocker!r} changes the model or its loss, or needs the model"
    try:
        stack_models(models)
    except UnstackableError as err:
        return str(err)
    return None


def _batch_only(technique: Technique) -> bool:
    """Whether ``technique`` leaves the step to the plain loop: no model change, no loss of its
    own, and batches transformed without the model (``batch_only``, e.g. augmentation), or not
    at all. Its ``wrap_fit`` and ``adapt_subject`` happen outside the members' training."""
    kind = type(technique)
    base = Technique
    plain_batches = kind.adapt_batch is base.adapt_batch or kind.batch_only
    return (
        kind.adapt_model is base.adapt_model
        and kind.loss is base.loss
        and kind.penalty is base.penalty
        and not kind.owns_loss
        and plain_batches
    )


@dataclass
class _Member:
    ctx: FitContext
    rows: torch.Tensor  # (n,) training row indices into task.train
    history: list[dict[str, float]]
    stopper: _EarlyStopper
    done: bool = False
    final: dict[str, torch.Tensor] | None = None


class _View:
    """Member k's slice of the stacked model, as the early stopper sees a model."""

    def __init__(self, stacked: StackedModel, k: int) -> None:
        self.stacked, self.k = stacked, k

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.stacked.member_state(self.k)


def fit_members(
    models: Sequence[nn.Module],
    task: Task,
    ctxs: Sequence[FitContext],
    streams: Sequence[torch.Generator],
    rows: Sequence[torch.Tensor] | None = None,
    *,
    fit_fn: FitFn = fit,
    together: bool = True,
) -> tuple[list[FitResult], str | None]:
    """Train members together when they can, else one after another, with the same results.

    Args:
        models: K members, built alike.
        task: the task; member k trains on ``task.train`` rows ``rows[k]`` (all rows if None).
        ctxs: member k's context (``ctx.for_member(...)``).
        streams: member k's dropout stream (see :func:`member_stream`).
        rows: member k's training row indices (e.g. a bootstrap sample), or None.
        fit_fn: the fit of one member alone (the rest of the recipe's fit).
        together: try training them together (False: one by one).

    Returns:
        (one FitResult per member, why they were trained one by one, or None when together).
    """
    sizes = None if rows is None else [len(r) for r in rows]
    reason = (
        why_not_together(models, ctxs, sizes, fit_fn) if together else "asked to train one by one"
    )
    if reason is None:
        return fit_together(models, task, ctxs, streams, rows), None
    results = []
    for k, (model, ctx) in enumerate(zip(models, ctxs, strict=True)):
        member_task = task if rows is None else with_train_rows(task, rows[k])
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(streams[k].get_state())
            results.append(fit_fn(model, member_task, ctx))
    return results, reason


def with_train_rows(task: Task, rows: torch.Tensor) -> Task:
    """``task`` whose training split is ``task.train`` at ``rows`` (repeats allowed)."""
    return task.with_splits(train=task.train.subset(rows))


def fit_together(
    models: Sequence[nn.Module],
    task: Task,
    ctxs: Sequence[FitContext],
    streams: Sequence[torch.Generator],
    rows: Sequence[torch.Tensor] | None = None,
) -> list[FitResult]:
    """Train K members as one stacked model; each FitResult holds its member, trained.

    Raises:
        UnstackableError: the members cannot be stacked (check :func:`why_not_together` first).
        TrainingError: a member's loss became NaN or infinite.
    """
    n_rows = len(task.train)
    n = n_rows if rows is None else len(rows[0])
    cfg = ctxs[0].train.resolved(n)
    epochs = cfg.max_epochs
    members = [
        _Member(
            ctx,
            torch.arange(n_rows) if rows is None else rows[k],
            [],
            _EarlyStopper(ctx.train.resolved(n), len(task.val)),
        )
        for k, ctx in enumerate(ctxs)
    ]
    for m in members:
        m.ctx.generator = torch_generator(m.ctx.seed, "batches")
        if m.ctx.files_dir is not None:
            m.ctx.files_dir.mkdir(parents=True, exist_ok=True)
    stacked = stack_models(models, list(streams))
    steps_per_epoch = _steps_per_epoch(n, cfg.batch_size)
    optimizer = _optimizer(stacked, cfg)
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup, total, cfg.schedule)
    )
    train = task.train
    # no technique touches the batches: gather every member's rows in one indexing step
    plain = all(type(t).adapt_batch is Technique.adapt_batch for c in ctxs for t in c.techniques)
    start = time.perf_counter()
    for epoch in range(epochs):
        stacked.train()
        orders = [m.rows[torch.randperm(n, generator=m.ctx.generator)] for m in members]
        sums = torch.zeros(len(members), dtype=torch.float64)
        correct = torch.zeros(len(members), dtype=torch.long)
        seen = 0
        for m in members:
            m.ctx.epoch = epoch
        for i in range(steps_per_epoch):
            window = slice(i * cfg.batch_size, (i + 1) * cfg.batch_size)
            x, y, target = _step_inputs(train, [o[window] for o in orders], members, models, plain)
            logits = stacked(x)  # (K, B, C)
            losses = _losses(logits, y, target)  # (K,)
            if not bool(torch.isfinite(losses).all()):
                _check_finite(losses[~torch.isfinite(losses)][0], epoch, i)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(losses.sum())
            if cfg.grad_clip is not None:
                _clip_per_member(stacked, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            b = y.shape[1]
            for m in members:
                m.ctx.step += 1
            sums += losses.detach().double() * b
            seen += b
            correct += (logits.detach().argmax(2) == y).sum(1)
        val = _val_scores(stacked, task.val, cfg.eval_batch_size)
        lr = cfg.lr * lr_factor(scheduler.last_epoch, warmup, total, cfg.schedule)
        for k, m in enumerate(members):
            if m.done:
                continue
            record = {
                "epoch": epoch + 1,
                "train_loss": float(sums[k]) / seen,
                "train_accuracy": int(correct[k]) / seen,
                "val_loss": val[k].loss,
                "val_accuracy": val[k].accuracy,
                "lr": lr,
                "seconds": time.perf_counter() - start,
            }
            m.history.append(record)
            _log_epoch(m.ctx.files_dir, record)
            if m.ctx.on_epoch:
                m.ctx.on_epoch(epoch + 1, epochs, record)
            if m.stopper.update(record, _View(stacked, k)):  # type: ignore[arg-type]
                m.done, m.final = True, stacked.member_state(k)
        if all(m.done for m in members):
            break
    seconds = time.perf_counter() - start
    results = []
    for k, (m, model) in enumerate(zip(members, models, strict=True)):
        model.load_state_dict(m.final if m.final is not None else stacked.member_state(k))
        m.stopper.restore(model)
        files = m.ctx.files_dir
        if cfg.checkpoint and files is not None:
            save_weights(model, files / "model.safetensors")
        extras = dict(m.ctx.extras)
        extras["trained_together"] = len(members)
        results.append(
            FitResult(
                model=model,
                history=m.history,
                best_epoch=m.stopper.best_epoch,
                stopped_early=len(m.history) < epochs,
                train_seconds=seconds,
                extras=extras,
            )
        )
    return results


def _step_inputs(
    split: Split,
    idx: list[torch.Tensor],
    members: list[_Member],
    models: Sequence[nn.Module],
    plain: bool,
) -> tuple[Inputs, torch.Tensor, torch.Tensor | None]:
    """(K, B, ...) inputs, (K, B) labels and (K, B, C) soft targets (or None) of one step."""
    if plain:
        rows = torch.cat(idx)
        x = index_inputs(split.x, rows)
        k = len(idx)
        shaped: Inputs
        if isinstance(x, dict):
            shaped = {n: t.view(k, -1, *t.shape[1:]) for n, t in x.items()}
        else:
            shaped = x.view(k, -1, *x.shape[1:])
        return shaped, split.y[rows].view(k, -1), None
    batches = []
    for rows, member, model in zip(idx, members, models, strict=True):
        group = None if split.group is None else split.group[rows]
        batch = Batch(index_inputs(split.x, rows), split.y[rows], None, group)
        for technique in member.ctx.techniques:
            batch = technique.adapt_batch(batch, model, member.ctx)
        batches.append(batch)
    y = torch.stack([b.y for b in batches])
    targets = [b.target for b in batches]
    if all(t is None for t in targets):
        return stack_inputs([b.x for b in batches]), y, None
    n_classes = next(t for t in targets if t is not None).shape[1]
    soft = [
        F.one_hot(b.y, n_classes).float() if t is None else t
        for b, t in zip(batches, targets, strict=True)
    ]
    return stack_inputs([b.x for b in batches]), y, torch.stack(soft)


def _losses(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """(K,) each member's default objective (as ``cross_entropy_step``): mean cross-entropy
    with hard labels or soft targets."""
    if target is not None:
        return torch.sum(-target * F.log_softmax(logits, dim=2), dim=2).mean(1)
    k, b, c = logits.shape
    rows = F.cross_entropy(logits.reshape(k * b, c), y.reshape(-1), reduction="none")
    return rows.view(k, b).mean(1)


def _optimizer(stacked: StackedModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """One optimizer over the stacked parameters, its fused kernel where torch has one (the
    update is elementwise, so member k's slice moves as its own optimizer would move it)."""
    params = list(stacked.parameters())
    try:
        return _make(params, cfg, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this optimizer or device
        return _make(params, cfg, fused=False)


def _make(params: list[nn.Parameter], cfg: TrainConfig, *, fused: bool) -> torch.optim.Optimizer:
    flags: dict[str, Any] = {"fused": True} if fused else {"foreach": True}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **flags
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **flags)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **flags)


@torch.no_grad()
def _clip_per_member(stacked: StackedModel, max_norm: float) -> None:
    """``clip_grad_norm_`` of each member on its own slice of every stacked gradient."""
    grads = [p.grad for p in stacked.parameters() if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])  # (P, K)
    coef = (max_norm / (torch.linalg.vector_norm(norms, dim=0) + 1e-6)).clamp(max=1.0)  # (K,)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


@torch.no_grad()
def _val_scores(stacked: StackedModel, split: Split, batch_size: int) -> list[SplitScores]:
    was = stacked.training
    stacked.eval()
    try:
        n = len(split)
        chunks = []
        for i in range(0, n, batch_size):
            x = index_inputs(split.x, slice(i, i + batch_size))
            chunks.append(stacked(stack_inputs([x] * stacked.k)))
        logits = torch.cat(chunks, dim=1).float()  # (K, N, C)
    finally:
        stacked.train(was)
    return [SplitScores(z, split.y) for z in logits]
