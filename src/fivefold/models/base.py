"""Model registry and the ``Classifier = encoder + head`` convention every model follows.

Every fivefold model is a :class:`Classifier`: an ``encoder`` mapping inputs to a (B, D)
feature vector and a linear ``head`` mapping features to (B, C) logits. Techniques rely on this
split: SSL pretrains the encoder, transfer swaps the head, a linear probe freezes the encoder,
OOD scores and fusion read the features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fivefold.data.task import Inputs, Modality, Task
from fivefold.errors import ConfigError
from fivefold.registry import Registry, Spec

__all__ = ["MODELS", "Classifier", "ModelPlugin", "ModelSpec", "build_model", "prepare_task"]


class Classifier(nn.Module):
    """``logits = head(encoder(x))``; ``encoder(x)`` is (B, D), ``head`` is ``nn.Linear(D, C)``."""

    def __init__(self, encoder: nn.Module, feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: Inputs) -> torch.Tensor:
        """(B, D) features of inputs ``x``."""
        out: torch.Tensor = self.encoder(x)
        return out

    def forward(self, x: Inputs) -> torch.Tensor:
        """(B, C) logits."""
        out: torch.Tensor = self.head(self.encoder(x))
        return out


@dataclass(frozen=True)
class ModelPlugin:
    """A registered model family.

    Attributes:
        config_cls: frozen dataclass of its options (the ``[model]`` table minus ``name``).
        build: ``(config, task) -> Classifier`` inferring input and output sizes from the task.
        modalities: input kinds it accepts.
        prepare: optional ``(config, task) -> task`` run before building (e.g. re-tokenising
            text with a pretrained backbone's own tokenizer).
        min_inputs: inputs a task needs (2 for fusion models).
    """

    config_cls: type[Any]
    build: Callable[[Any, Task], Classifier]
    modalities: frozenset[Modality]
    prepare: Callable[[Any, Task], Task] | None = None
    min_inputs: int = 1


MODELS: Registry[ModelPlugin] = Registry(
    "model", config_of=lambda plugin: plugin.config_cls, home="fivefold.models"
)


ModelSpec = Spec[ModelPlugin]
"""A model name with its validated options (the ``[model]`` table)."""


def _check_modalities(spec: ModelSpec, task: Task) -> ModelPlugin:
    plugin = MODELS.get(spec.name, field="model.name")
    kinds = {info.kind for info in task.inputs.values()}
    if not kinds <= plugin.modalities:
        bad = ", ".join(sorted(kinds - plugin.modalities))
        fits = [e.name for e in MODELS if kinds <= e.obj.modalities]
        raise ConfigError(
            f"model.name: {spec.name!r} does not accept {bad} inputs of dataset {task.name!r}; "
            f"models that do: {', '.join(fits) or 'none'}"
        )
    if len(task.inputs) < plugin.min_inputs:
        raise ConfigError(
            f"model.name: {spec.name!r} needs a dataset with {plugin.min_inputs} or more inputs; "
            f"{task.name!r} has {len(task.inputs)}: use a multi-input dataset (basic_motions, "
            "clothing_reviews) or another model"
        )
    return plugin


def prepare_task(spec: ModelSpec, task: Task) -> Task:
    """The task as the model needs it (identity for most models)."""
    plugin = _check_modalities(spec, task)
    return plugin.prepare(spec.config, task) if plugin.prepare else task


def build_model(spec: ModelSpec, task: Task) -> Classifier:
    """Build the model named by ``spec`` with sizes inferred from ``task``."""
    return _check_modalities(spec, task).build(spec.config, task)
