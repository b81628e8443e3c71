"""The technique registry and the plan-time checks of a recipe (duplicates, conflicts, loss
owners, modalities, required data and each technique's own check of the model). The
:class:`Technique` base class and its hook types live in :mod:`fivefold.training.hooks`, below
the techniques.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fivefold.data.task import Task
from fivefold.errors import ConfigError, FivefoldError
from fivefold.models.base import ModelSpec, build_model
from fivefold.registry import Registry, Spec
from fivefold.training.hooks import Technique

__all__ = ["TECHNIQUES", "TechniqueSpec", "check_model", "check_recipe", "check_task"]

TECHNIQUES: Registry[type[Technique]] = Registry(
    "technique",
    config_of=lambda kind: kind.Config,
    make=lambda kind, spec: kind(spec.name, spec.config),
    name_key="technique",
    home="fivefold.techniques",
)


TechniqueSpec = Spec[type[Technique]]
"""A technique name with its validated options, as listed in a recipe."""


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
        try:
            kind.check_task(spec.config, task)
        except ConfigError as err:
            raise ConfigError(f"recipes.{recipe}: {err}") from None


def check_model(recipe: str, specs: Sequence[TechniqueSpec], model: ModelSpec, task: Task) -> None:
    """Fail early when a technique cannot run on the experiment's model.

    Calls :meth:`Technique.check_model` of every technique that defines one, on one fresh model
    built from ``model`` for this recipe (no model is built when none does); the global random
    stream is left as it was.

    Args:
        recipe: the recipe's name, for the message.
        specs: the recipe's techniques.
        model: the experiment's model.
        task: the task as the model sees it (after ``prepare_task``).

    Raises:
        FivefoldError: naming the recipe, the model and the technique's complaint (a
            ConfigError, or a DataError for a file the technique reads).
    """
    checked = [s for s in specs if _checks_model(TECHNIQUES.get(s.name))]
    if not checked:
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        built = build_model(model, task)
    names = [s.name for s in specs]
    for spec in checked:
        try:
            TECHNIQUES.get(spec.name).check_model(spec.config, built, names)
        except FivefoldError as err:  # keep the kind: a missing file stays a DataError
            raise type(err)(f"recipes.{recipe} with model {model.name!r}: {err}") from None


def _checks_model(kind: type[Technique]) -> bool:
    return kind.check_model.__func__ is not Technique.check_model.__func__  # type: ignore[attr-defined]
