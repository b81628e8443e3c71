"""Look up registered plugins for ``fivefold list`` and ``fivefold explain``."""

from __future__ import annotations

from typing import Any

from fivefold.data import DATASETS
from fivefold.data.config import DataConfig
from fivefold.errors import ConfigError
from fivefold.models import MODELS
from fivefold.pillars import PILLARS
from fivefold.registry import Entry, Registry, did_you_mean
from fivefold.schema import FieldHelp, describe
from fivefold.techniques import TECHNIQUES
from fivefold.training.config import TrainConfig

__all__ = ["explain", "registry_of"]


def registry_of(kind: str) -> Registry[Any]:
    """The registry of ``datasets``, ``models``, ``techniques`` or ``pillars``."""
    registries: dict[str, Registry[Any]] = {
        "datasets": DATASETS,
        "models": MODELS,
        "techniques": TECHNIQUES,
        "pillars": PILLARS,
    }
    return registries[kind]


def explain(name: str) -> tuple[str, str, list[FieldHelp]]:
    """Title, help text and config fields of a plugin or of the ``data``/``train`` tables."""
    sections = {
        "data": (DataConfig, "the [data] table"),
        "train": (TrainConfig, "the [train] table"),
    }
    if name in sections:
        cls, text = sections[name]
        return name, text, describe(cls)
    for kind in ("models", "techniques", "pillars", "datasets"):
        registry = registry_of(kind)
        if name in registry:
            entry: Entry[Any] = registry.entry(name)
            return f"{kind[:-1]} {name}", entry.help, _fields(kind, entry.obj)
    known = [
        n for k in ("models", "techniques", "pillars", "datasets") for n in registry_of(k).names()
    ]
    raise ConfigError(
        f"nothing called {name!r}{did_you_mean(name, [*known, 'data', 'train'])}; "
        "try `fivefold list models|techniques|pillars|datasets`"
    )


def _fields(kind: str, obj: Any) -> list[FieldHelp]:
    if kind == "models":
        return describe(obj.config_cls)
    if kind in ("techniques", "pillars"):
        return describe(obj.Config)
    return describe(DataConfig)
