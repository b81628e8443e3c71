"""The Technique protocol: four hooks, identity by default; a technique overrides one or two.

Composition order is fixed (the recipe orders techniques only within a level)::

    fit   = wrap_fit_1(wrap_fit_2(base_fit))          first listed = outermost
    model = adapt_model_k(... adapt_model_1(model))   in list order
    step:  batch = adapt_batch_k(... adapt_batch_1(batch)); loss = owner.loss(...) or CE
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from fivefold.data.task import Inputs, Modality, Task
from fivefold.errors import ConfigError
from fivefold.registry import Registry
from fivefold.schema import build

if TYPE_CHECKING:
    from fivefold.training.fit import FitContext, FitResult

__all__ = [
    "ALL_MODALITIES",
    "TECHNIQUES",
    "Batch",
    "FitFn",
    "Requirement",
    "StepOutput",
    "Technique",
    "TechniqueSpec",
    "check_recipe",
]

ALL_MODALITIES: frozenset[Modality] = frozenset({"image", "sequence", "tabular", "text"})
Requirement = Literal["groups", "unlabeled", "text"]


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


FitFn = Callable[[nn.Module, Task, "FitContext"], "FitResult"]


class Technique:
    """Base class of every technique: a config plus four hooks that default to identity.

    Class attributes:
        Config: frozen dataclass of the technique's options.
        modalities: input kinds it supports.
        requires: data it needs ("groups", "unlabeled", "text").
        conflicts: technique names it cannot be combined with.
        owns_loss: whether it defines the training objective (at most one per recipe).
        quick: options that make a run fast enough for a smoke test (the shared contract
            test and ``fivefold list`` examples use them); they must not change what the
            technique is, only how long it runs.
    """

    Config: ClassVar[type[Any]]
    modalities: ClassVar[frozenset[Modality]] = ALL_MODALITIES
    requires: ClassVar[frozenset[Requirement]] = frozenset()
    conflicts: ClassVar[frozenset[str]] = frozenset()
    owns_loss: ClassVar[bool] = False
    quick: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, config: Any) -> None:
        self.name = name
        self.config = config

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


TECHNIQUES: Registry[type[Technique]] = Registry("technique")


@dataclass(frozen=True)
class TechniqueSpec:
    """A technique name with its validated options, as listed in a recipe."""

    name: str
    config: Any

    @classmethod
    def parse(cls, raw: Any, path: str) -> TechniqueSpec:
        """From ``"name"`` or ``{technique = "name", ...options}``."""
        if isinstance(raw, str):
            raw = {"technique": raw}
        if not isinstance(raw, dict) or "technique" not in raw:
            raise ConfigError(
                f"{path}: expected a technique name or a table with 'technique = \"name\"'"
            )
        name = str(raw["technique"])
        kind = TECHNIQUES.get(name, field=f"{path}.technique")
        options = {k: v for k, v in raw.items() if k != "technique"}
        return cls(name, build(kind.Config, options, path))

    def instantiate(self) -> Technique:
        """A fresh technique object with this config."""
        return TECHNIQUES.get(self.name)(self.name, self.config)


def check_recipe(recipe: str, specs: Sequence[TechniqueSpec]) -> None:
    """Fail early on duplicates, declared conflicts and more than one loss owner.

    Raises:
        ConfigError: naming the recipe and the techniques at fault.
    """
    names = [s.name for s in specs]
    kinds = [TECHNIQUES.get(n) for n in names]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"recipes.{recipe}: technique {name!r} is listed twice")
        clash = kinds[i].conflicts & set(names)
        if clash:
            raise ConfigError(
                f"recipes.{recipe}: {name!r} conflicts with {', '.join(sorted(clash))}"
            )
    owners = [n for n, k in zip(names, kinds, strict=True) if k.owns_loss]
    if len(owners) > 1:
        raise ConfigError(
            f"recipes.{recipe}: {' and '.join(owners)} both define the training loss; keep one"
        )


def check_task(recipe: str, specs: Sequence[TechniqueSpec], task: Task) -> None:
    """Fail early when a technique cannot run on this task (modality or missing data)."""
    kinds = {info.kind for info in task.inputs.values()}
    have: set[str] = set()
    if task.group_names:
        have.add("groups")
    if "unlabeled" in task.splits or len(task.train) > 0:
        have.add("unlabeled")
    if "text" in kinds:
        have.add("text")
    for spec in specs:
        kind = TECHNIQUES.get(spec.name)
        if not kinds <= kind.modalities:
            raise ConfigError(
                f"recipes.{recipe}: {spec.name!r} does not support "
                f"{', '.join(sorted(kinds - kind.modalities))} inputs of {task.name!r}"
            )
        missing = set(kind.requires) - have
        if missing:
            raise ConfigError(
                f"recipes.{recipe}: {spec.name!r} needs {', '.join(sorted(missing))}, "
                f"which dataset {task.name!r} does not provide"
            )
