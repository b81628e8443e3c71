"""The types every training hook speaks: batches, step outputs, the fit context and result, and
the :class:`Technique` base class with its five hooks, identity by default.

Composition order is fixed (the recipe orders techniques only within a level)::

    fit     = wrap_fit_1(wrap_fit_2(base_fit))                first listed = outermost
    model   = adapt_model_k(... adapt_model_1(model))         in list order
    step:     batch = adapt_batch_k(... adapt_batch_1(batch)); loss = owner.loss(...) or CE,
              plus every technique's penalty(model)
    eval:     subject = adapt_subject_k(... adapt_subject_1(Subject(model)))   compose_subject()

They live here, below the techniques, so that the loop in :mod:`fivefold.training.fit` needs
nothing from the layers above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from fivefold.data.task import Inputs, Modality, Task
from fivefold.seeding import torch_generator
from fivefold.training.config import TrainConfig
from fivefold.training.subject import Subject

__all__ = [
    "ALL_MODALITIES",
    "Batch",
    "EpochCallback",
    "FitContext",
    "FitFn",
    "FitResult",
    "ModelFactory",
    "Requirement",
    "StepOutput",
    "Technique",
    "compose_subject",
]

ALL_MODALITIES: frozenset[Modality] = frozenset({"image", "sequence", "tabular", "text"})
Requirement = Literal["groups", "unlabeled", "text"]
EpochCallback = Callable[[int, int, dict[str, float]], None]
ModelFactory = Callable[[int], nn.Module]
"""``build_model(seed) -> a fresh model of the task's architecture`` (pretrained weights kept)."""


@dataclass(frozen=True)
class Batch:
    """One training batch.

    Attributes:
        x: inputs, (B, ...) or a modality dict.
        y: (B,) int64 labels.
        target: (B, C) soft targets (e.g. from mixup), or None for hard labels.
        group: (B,) int64 sensitive-attribute ids, or None.
    """

    x: Inputs
    y: torch.Tensor
    target: torch.Tensor | None = None
    group: torch.Tensor | None = None


@dataclass
class StepOutput:
    """What a training step produced: the loss to minimise, the logits and extra metrics."""

    loss: torch.Tensor
    logits: torch.Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class FitContext:
    """Everything a fit and its techniques may read: settings, seed, where to write.

    Attributes:
        train: the optimisation settings.
        seed: the trial seed; techniques derive child seeds from it.
        techniques: the recipe's techniques, in recipe order.
        workdir: folder for the epoch log and checkpoint (None: write nothing).
        on_epoch: progress callback ``(epoch, epochs, metrics)``.
        epoch, step: the current position, updated by the loop.
        generator: the loop's random stream (batch order); techniques use their own.
        cache_dir: folder shared by the trials of one run, for results that several trials
            can reuse (e.g. self-supervised pretraining); None: no caching.
        cache_key: identifies the data pool and model architecture independently of the seed
            and the label fraction; techniques add their own config to it.
        lr_scale: learning-rate multipliers by parameter name (layer-wise decay); a
            parameter not listed trains at the full rate.
        extras: JSON-serialisable facts a technique reports, by technique name (e.g. trainable
            parameters, pretraining loss); they land in ``result.json`` under "techniques".
        build_model: ``seed -> fresh model`` of the task's architecture (pretrained weights
            kept where the model has them), for techniques that train several members; None
            where the caller has no factory (a plain ``fit`` call).
        member: name of the member being trained (e.g. "member-2"); the epoch log and the
            checkpoint then go to ``workdir/<member>/`` so that members never share a file.
            None: the trial's own model, files straight in ``workdir``.
    """

    train: TrainConfig
    seed: int
    techniques: Sequence[Technique] = ()
    workdir: Path | None = None
    on_epoch: EpochCallback | None = None
    epoch: int = 0
    step: int = 0
    generator: torch.Generator = field(default_factory=torch.Generator)
    cache_dir: Path | None = None
    cache_key: str = ""
    lr_scale: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    build_model: ModelFactory | None = None
    member: str | None = None

    @property
    def files_dir(self) -> Path | None:
        """Where this fit writes its epoch log and checkpoint (per member when one is set)."""
        if self.workdir is None or self.member is None:
            return self.workdir
        return self.workdir / self.member

    def for_member(self, name: str, seed: int) -> FitContext:
        """The context of one member of several that a technique trains (e.g. an ensemble)::

            fit(ctx.build_model(s), task, ctx.for_member(f"member-{k}", s))

        The copy keeps the settings, techniques, folders, callback and model factory, but has
        its own position (epoch and step 0), random stream, ``extras`` (empty) and
        ``lr_scale``, so a member's fit neither moves nor mixes into the parent's state.

        Args:
            name: the member's name and folder: its files go to ``workdir/<name>/`` (nested
                under the parent's own member folder when the parent is a member itself).
            seed: the member's seed, from which the fit and its techniques derive theirs.

        Returns:
            a new context; the parent is unchanged.

        Raises:
            ValueError: ``name`` is not a plain folder name.
        """
        # One folder level only, on any OS: a backslash separates folders on Windows.
        if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise ValueError(f"member name {name!r} must be a plain folder name, e.g. 'member-0'")
        return replace(
            self,
            seed=seed,
            techniques=tuple(self.techniques),
            epoch=0,
            step=0,
            generator=torch_generator(seed, "batches"),  # the stream fit starts from
            lr_scale=dict(self.lr_scale),
            extras={},
            member=name if self.member is None else f"{self.member}/{name}",
        )


@dataclass
class FitResult:
    """A trained model and how training went."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool
    train_seconds: float
    extras: dict[str, Any] = field(default_factory=dict)


FitFn = Callable[[nn.Module, Task, FitContext], FitResult]


class Technique:
    """Base class of every technique: a config plus five hooks that default to identity.

    Class attributes:
        Config: frozen dataclass of the technique's options.
        modalities: input kinds it supports.
        requires: data it needs ("groups", "unlabeled", "text").
        conflicts: technique names it cannot be combined with.
        owns_loss: whether it defines the training objective (at most one per recipe).
        batch_only: whether ``adapt_batch`` transforms batches without reading the model (so
            members or seeds can train together as one wide model with it).
        quick: options that make a run fast enough for a smoke test (the shared contract
            test and ``fivefold list`` examples use them); they must not change what the
            technique is, only how long it runs.
    """

    Config: ClassVar[type[Any]]
    modalities: ClassVar[frozenset[Modality]] = ALL_MODALITIES
    requires: ClassVar[frozenset[Requirement]] = frozenset()
    conflicts: ClassVar[frozenset[str]] = frozenset()
    owns_loss: ClassVar[bool] = False
    batch_only: ClassVar[bool] = False
    quick: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config

    @classmethod
    def check_task(cls, config: Any, task: Task) -> None:
        """Plan time: fail when these options cannot run on ``task`` (beyond the declared
        ``modalities`` and ``requires``); by default there is no check.

        Raises:
            ConfigError: one line naming the option at fault and the fix.
        """

    @classmethod
    def check_model(cls, config: Any, model: nn.Module, recipe: Sequence[str]) -> None:
        """Plan time: fail when this technique cannot run on ``model`` within ``recipe``.

        The runner calls it once per recipe before any trial starts, on a model built as the
        trials build theirs; the model is thrown away afterwards, so a check may try its
        changes on it. By default there is no check.

        Args:
            config: the technique's options (an instance of ``Config``).
            model: an untrained model of the experiment's architecture.
            recipe: the names of the recipe's techniques, in recipe order.

        Raises:
            ConfigError: one line naming the option or the technique at fault.
        """

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Whole-training level (SSL pretraining, transfer, ensembles, online/meta learning)."""
        return fit

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        """Model level (LoRA/BitFit/adapters, freezing, fusion)."""
        return model

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        """Step level (augmentation, mixup, adversarial examples)."""
        return batch

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> StepOutput | None:
        """Objective (TRADES, SSL losses); only the recipe's loss owner is asked."""
        return None

    def penalty(self, model: nn.Module, ctx: FitContext) -> torch.Tensor | None:
        """A term added to every step's loss, whoever owns the loss (e.g. EWC's pull towards
        earlier tasks' weights); None (the default) adds nothing."""
        return None

    def adapt_subject(self, subject: Subject, task: Task, ctx: FitContext) -> Subject:
        """Evaluation time (test-time adaptation, ensembling of members); called after ``fit``
        by the runner and by ``fivefold audit``, before any pillar sees the model."""
        return subject


def compose_subject(
    techniques: Sequence[Technique], subject: Subject, task: Task, ctx: FitContext
) -> Subject:
    """``adapt_subject`` of every technique in recipe order: what the pillars evaluate.

    Args:
        techniques: the recipe's techniques (none: the subject is returned as it is).
        subject: the fitted model as a :class:`Subject`.
        task: the task it is evaluated on.
        ctx: the trial's fit context.

    Returns:
        ``adapt_subject_k(... adapt_subject_1(subject))``.
    """
    for technique in techniques:
        subject = technique.adapt_subject(subject, task, ctx)
    return subject
