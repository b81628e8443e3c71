"""The augmentation policy of one task: which ops run on which input, and applying it.

:func:`make_plan` reads the task once (modalities, bounds, one-hot groups, vocabulary, the
training rows SMOTE needs); :func:`augment_batch` then transforms one batch. Inputs of the same
kind, shape and bounds (e.g. the accelerometer and gyroscope of one recording) are transformed
together so that their time or space axes stay aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import torch

from fivefold.data.task import Modality, ModalityInfo, Task
from fivefold.data.text import WordVocab
from fivefold.errors import ConfigError
from fivefold.techniques.augment import image, mixing, series, tabular, text
from fivefold.techniques.augment.config import DEFAULT_OPS, WORDPIECE_TEXT_OPS, AugmentConfig
from fivefold.techniques.augment.ops import apply_with_prob, draw_seed
from fivefold.training.hooks import Batch

__all__ = ["Plan", "augment_batch", "make_plan", "plan_from_batch"]


@dataclass(frozen=True)
class Plan:
    """What the policy needs to know about a task.

    Attributes:
        inputs: modality info per input key.
        ops: op names per input key, in order.
        n_classes: number of classes (for soft targets).
        tabular: training statistics per tabular input.
        text: vocabulary facts per text input.
    """

    inputs: dict[str, ModalityInfo]
    ops: dict[str, tuple[str, ...]]
    n_classes: int
    tabular: dict[str, tabular.TabularStats] = field(default_factory=dict)
    text: dict[str, text.TextVocab] = field(default_factory=dict)


def _ops_for(cfg: AugmentConfig, info: ModalityInfo, subword: bool) -> tuple[str, ...]:
    chosen = {
        "image": cfg.image_ops,
        "sequence": cfg.series_ops,
        "tabular": cfg.tabular_ops,
        "text": cfg.text_ops,
    }[info.kind]
    if chosen is not None:
        return tuple(chosen)
    return WORDPIECE_TEXT_OPS if info.kind == "text" and subword else DEFAULT_OPS[info.kind]


def make_plan(cfg: AugmentConfig, task: Task, seed: int) -> Plan:
    """The policy for ``task``.

    Raises:
        ConfigError: an op or mixing cannot run on the task's inputs.
    """
    inputs = dict(task.inputs)
    subword = task.text_encoder is not None and not isinstance(task.text_encoder, WordVocab)
    ops = {key: _ops_for(cfg, info, subword) for key, info in inputs.items()}
    plan = Plan(inputs, ops, task.n_classes)
    train_x = task.train.x if isinstance(task.train.x, dict) else {"x": task.train.x}
    for key, info in inputs.items():
        if info.kind == "tabular":
            plan.tabular[key] = tabular.TabularStats.of(
                train_x[key].float(), task.train.y, info.categorical, task.n_classes
            )
        if info.kind == "text":
            if subword and "char_typo" in ops[key]:
                raise ConfigError(
                    "augment.text_ops: char_typo needs a word vocabulary (model 'text'); "
                    "for a sub-word backbone use token_mask, word_delete or word_swap"
                )
            plan.text[key] = text.TextVocab.of(
                task.text_encoder, train_x[key], info.vocab_size, seed
            )
    _check_mixing(cfg, inputs)
    if len(inputs) > 1 and any("smote" in o for o in ops.values()):
        ops = {k: tuple(o for o in v if o != "smote") for k, v in ops.items()}
        plan = replace(plan, ops=ops)
    return plan


def _check_mixing(cfg: AugmentConfig, inputs: dict[str, ModalityInfo]) -> None:
    kinds = {info.kind for info in inputs.values()}
    if (cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0) and "text" in kinds:
        raise ConfigError(
            "augment: mixup_alpha/cutmix_alpha need float inputs; token ids of text cannot be "
            "mixed (set both to 0 or use text_ops)"
        )
    if cfg.cutmix_alpha > 0 and "tabular" in kinds:
        raise ConfigError(
            "augment.cutmix_alpha: cutmix needs image or series inputs; use mixup_alpha for "
            "tabular data"
        )


def plan_from_batch(cfg: AugmentConfig, x: torch.Tensor | dict[str, torch.Tensor]) -> Plan:
    """A plan guessed from a batch when the task was not seen (rank and dtype tell the kind).

    Only image and series ops run (tabular and text ops need training statistics) and no
    mixing (the number of classes is unknown).
    """
    named = x if isinstance(x, dict) else {"x": x}
    kinds: dict[int, Modality] = {4: "image", 3: "sequence"}
    inputs: dict[str, ModalityInfo] = {}
    for key, value in named.items():
        kind: Modality = (
            "text" if not value.is_floating_point() else kinds.get(value.dim(), "tabular")
        )
        inputs[key] = ModalityInfo(kind, tuple(value.shape[1:]))
    ops = {
        k: _ops_for(cfg, i, False) if i.kind in ("image", "sequence") else ()
        for k, i in inputs.items()
    }
    return Plan(inputs, ops, 0)


def _clusters(plan: Plan) -> list[list[str]]:
    """Image/sequence inputs that are transformed together (same kind, shape and bounds)."""
    clusters: dict[tuple[object, ...], list[str]] = {}
    for key, info in plan.inputs.items():
        if info.kind in ("image", "sequence"):
            sig = (info.kind, info.shape[1:], info.bounds, plan.ops[key])
            clusters.setdefault(sig, []).append(key)
    return list(clusters.values())


def _augment_cluster(
    xs: dict[str, torch.Tensor], keys: list[str], plan: Plan, cfg: AugmentConfig, g: torch.Generator
) -> None:
    info = plan.inputs[keys[0]]
    ops = plan.ops[keys[0]]
    joined = torch.cat([xs[k] for k in keys], dim=1)  # (B, ΣC, ...)
    if info.kind == "image":
        steps = [(o, cfg.op_strength(o), cfg.op_prob(o)) for o in ops]
        joined = image.augment_images(
            joined, steps, info.bounds, g, cfg.randaugment_n, cfg.randaugment_m
        )
    else:
        for o in ops:
            joined = apply_with_prob(
                joined, series.SERIES_OPS[o], cfg.op_strength(o), cfg.op_prob(o), g
            )
        if info.bounds is not None:
            joined = joined.clamp(info.bounds[0], info.bounds[1])
    for key, part in zip(
        keys, torch.split(joined, [xs[k].shape[1] for k in keys], dim=1), strict=True
    ):
        xs[key] = part


def augment_batch(batch: Batch, plan: Plan, cfg: AugmentConfig, g: torch.Generator) -> Batch:
    """Apply the per-sample ops, SMOTE and mixing to one batch (a new Batch; inputs untouched)."""
    xs = dict(batch.x) if isinstance(batch.x, dict) else {"x": batch.x}
    for keys in _clusters(plan):
        _augment_cluster(xs, keys, plan, cfg, g)
    for key, stats in plan.tabular.items():
        for o in (o for o in plan.ops[key] if o != "smote"):
            fn = partial(getattr(tabular, o), stats=stats)
            xs[key] = apply_with_prob(xs[key], fn, cfg.op_strength(o), cfg.op_prob(o), g)
    for key, vocab in plan.text.items():
        for o in plan.ops[key]:
            fn = partial(text.TEXT_OPS[o], vocab=vocab)
            xs[key] = apply_with_prob(xs[key], fn, cfg.op_strength(o), cfg.op_prob(o), g)
    out = replace(batch, x=xs if isinstance(batch.x, dict) else xs["x"])
    if any("smote" in plan.ops[k] for k in plan.tabular):
        out = _smote(out, plan, cfg, g)
    return _mix(out, plan, cfg, g)


def _smote(batch: Batch, plan: Plan, cfg: AugmentConfig, g: torch.Generator) -> Batch:
    if not isinstance(batch.x, torch.Tensor):  # SMOTE runs on single-input tasks only
        return batch
    new, anchors = tabular.smote(
        batch.x,
        batch.y,
        cfg.op_strength("smote"),
        cfg.op_prob("smote"),
        cfg.smote_k,
        g,
        plan.tabular["x"],
    )
    if len(anchors) == 0:
        return batch
    group = None if batch.group is None else torch.cat([batch.group, batch.group[anchors]])
    target = None if batch.target is None else torch.cat([batch.target, batch.target[anchors]])
    x = torch.cat([batch.x, new.to(batch.x.dtype)])
    return Batch(x, torch.cat([batch.y, batch.y[anchors]]), target, group)


def _mix(batch: Batch, plan: Plan, cfg: AugmentConfig, g: torch.Generator) -> Batch:
    use_mixup, use_cutmix = cfg.mixup_alpha > 0, cfg.cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or len(batch.y) < 2 or plan.n_classes == 0:
        return batch
    if float(torch.rand(1, generator=g)) >= cfg.mix_prob:
        return batch
    cut = use_cutmix and (not use_mixup or float(torch.rand(1, generator=g)) < 0.5)
    lam = mixing.beta_sample(cfg.cutmix_alpha if cut else cfg.mixup_alpha, g)
    perm = torch.randperm(len(batch.y), generator=g)
    xs = dict(batch.x) if isinstance(batch.x, dict) else {"x": batch.x}
    exact: float | None = None
    cut_seed = draw_seed(g)  # one seed: inputs of one shape get the same box or segment
    for key, x in xs.items():
        info = plan.inputs[key]
        if cut:
            cutter = mixing.cutmix_images if info.kind == "image" else mixing.cutmix_series
            xs[key], kept = cutter(x, perm, lam, torch.Generator().manual_seed(cut_seed))
            exact = kept if exact is None else exact
        else:
            xs[key] = mixing.mixup(x, perm, lam, info.categorical)
    lam = exact if exact is not None else lam
    target = mixing.mix_targets(
        mixing.soft_targets(batch.y, batch.target, plan.n_classes), perm, lam
    )
    return replace(batch, x=xs if isinstance(batch.x, dict) else xs["x"], target=target)
