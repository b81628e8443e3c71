"""The ``fusion`` technique: the experiment's model replaced by a multimodal fusion model."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from torch import nn

from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.models.fusion import (
    KINDS,
    FusionClassifier,
    FusionEncoder,
    LateFusion,
    build_fusion_model,
)
from fivefold.models.inputs import InputAdapter
from fivefold.schema import to_dict
from fivefold.techniques.fusion.config import FusionConfig
from fivefold.training.hooks import FitContext, FitFn, FitResult, Technique

__all__ = ["Fusion"]

PREPARES_MODEL = ("ssl", "transfer")
"""Techniques whose ``wrap_fit`` prepares the model it is handed (pretraining, loading weights):
listed before ``fusion`` they would prepare the model that fusion then replaces."""


def _input_names(model: nn.Module) -> list[str]:
    """The inputs a model reads, from its input adapters."""
    return sorted({k for m in model.modules() if isinstance(m, InputAdapter) for k in m.keys})


class Fusion(Technique):
    """Multimodal fusion: one encoder per input (a registered model on that input alone), joined
    early (concatenated features and an MLP block), late (per-input heads, logits averaged or
    weighted by a learned softmax), by cross-modal attention over the inputs' tokens, or by a
    gated multimodal unit; with optional modality dropout while training.

    ``wrap_fit`` replaces the experiment's model by the fusion model, built from the task and
    ``ctx.seed``, and ``ctx.build_model`` by a factory of fusion models, so techniques that train
    several members (``ensemble``) train fusion models. List ``fusion`` before ``ssl`` and
    ``transfer``, which then pretrain or load the fusion model.

    Reports under ``techniques.fusion``: the method, each input's encoder and feature size, the
    fused feature size, parameters per part, the modality dropout and, for late fusion, the
    inputs' weights after training (one table per member of an ensemble).

    Reference: Baltrusaitis, Ahuja & Morency, "Multimodal machine learning: a survey and
    taxonomy", TPAMI 2019; Arevalo et al., "Gated multimodal units for information fusion",
    ICLR Workshop 2017; Tsai et al., "Multimodal transformer for unaligned multimodal language
    sequences", ACL 2019; Neverova et al., "ModDrop: adaptive multi-modal gesture recognition",
    TPAMI 2016.
    """

    Config = FusionConfig
    # freelb perturbs the embeddings of a task's one text input; fusion needs two inputs or more
    conflicts: ClassVar[frozenset[str]] = frozenset({"freelb"})
    quick: ClassVar[dict[str, Any]] = {"width": 32}
    min_inputs: ClassVar[int] = 2
    """Inputs a task needs for this technique (read by the contract tests)."""

    def __init__(self, name: str, config: FusionConfig) -> None:
        super().__init__(name, config)
        self.config: FusionConfig = config

    @classmethod
    def check_model(cls, config: FusionConfig, model: nn.Module, recipe: Sequence[str]) -> None:
        """Plan time: a task with one input, an ``encoders`` key that is neither an input nor a
        kind, or a technique listed before fusion that would prepare the replaced model."""
        names = _input_names(model)
        if len(names) < 2:
            shown = ", ".join(names) or "one tensor"
            raise ConfigError(
                f"fusion needs a task with two or more inputs; the dataset has one: {shown} "
                "(use a multi-input dataset such as basic_motions, or remove fusion)"
            )
        for key in config.encoders or {}:
            if key not in names and key not in KINDS:
                raise ConfigError(
                    f"fusion.encoders.{key}: the dataset has no input {key!r} and it is no kind; "
                    f"use an input ({', '.join(names)}) or a kind ({', '.join(KINDS)})"
                )
        position = list(recipe).index("fusion") if "fusion" in recipe else 0
        early = [n for n in recipe[:position] if n in PREPARES_MODEL]
        if early:
            raise ConfigError(
                f"'fusion' replaces the experiment's model, so list it before {early[0]!r} "
                f"(which would otherwise prepare the model that fusion throws away)"
            )

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Build the fusion model, make it the members' factory, then run the inner fit."""

        def fit_fused(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            options = self.config.options()
            fused = build_fusion_model(task, options, ctx.seed)
            ctx.build_model = functools.partial(build_fusion_model, task, options)
            settings = json.dumps(to_dict(self.config), sort_keys=True)
            ctx.cache_key = f"{ctx.cache_key}|fusion={settings}"  # cached work is per model
            report: dict[str, Any] = ctx.extras.setdefault(self.name, {})
            report.update(_describe(fused, self.config))
            result = fit(fused, task, ctx)
            report.update(_learned(result.model))
            result.extras[self.name] = report
            return result

        return fit_fused


def _describe(model: FusionClassifier, config: FusionConfig) -> dict[str, Any]:
    encoder = model.encoder
    assert isinstance(encoder, FusionEncoder)
    encoders = {
        k: type(e.body).__name__ if hasattr(e, "body") else type(e).__name__
        for k, e in zip(encoder.keys, encoder.encoders, strict=True)
    }
    return {
        "method": config.method,
        "inputs": list(encoder.keys),
        "encoders": encoders,
        "feature_sizes": dict(zip(encoder.keys, encoder.dims, strict=True)),
        "fused_size": encoder.out_dim,
        "params": model.parameter_counts(),
        "modality_dropout": config.modality_dropout,
    }


def _learned(model: nn.Module) -> dict[str, Any]:
    """Late fusion: each input's weight after training (a list over members of an ensemble)."""
    tables = []
    for module in model.modules():
        if isinstance(module, FusionEncoder) and isinstance(module.fusion, LateFusion):
            weights = module.fusion.base_weights().detach().tolist()
            tables.append(dict(zip(module.keys, weights, strict=True)))
    if not tables:
        return {}
    return {"late_weights": tables[0] if len(tables) == 1 else tables}
