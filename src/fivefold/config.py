"""Experiments: TOML files loaded into frozen, typed dataclasses, with dotted overrides.

An experiment names the data, the model, the training settings, the recipes (name → ordered
list of techniques; an empty list is the baseline), the pillars to evaluate, the seeds and the
output folder. Everything is validated before any work starts; errors are one line naming the
field path, what is allowed and what was given.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import reprlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fivefold.data.config import DataConfig
from fivefold.errors import ConfigError
from fivefold.models.base import MODELS, ModelSpec
from fivefold.pillars.base import PILLARS, PillarSpec
from fivefold.registry import did_you_mean
from fivefold.schema import build, check_seed, to_dict
from fivefold.techniques.base import TECHNIQUES, TechniqueSpec, check_recipe
from fivefold.training.config import TrainConfig

__all__ = [
    "Experiment",
    "apply_overrides",
    "check_name",
    "check_output_dir",
    "inside",
    "load_experiment",
    "parse_experiment",
]

_KEYS = ("name", "seeds", "output", "data", "model", "train", "recipes", "pillars")
# Names become folder names: no separators, no leading dot (so never "." or ".."), no control
# characters, short enough for any file system.
_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}")
_NAME_RULE = "letters, digits and _ . + - (1 to 64 characters, not starting with '.')"


@dataclass(frozen=True)
class Experiment:
    """A whole experiment: recipes × seeds trained and evaluated on one task."""

    name: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    recipes: Mapping[str, tuple[TechniqueSpec, ...]] = field(
        default_factory=lambda: {"baseline": ()}
    )
    pillars: tuple[PillarSpec, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    output: str = ""

    def __post_init__(self) -> None:
        # Also guards experiments built in code or through dataclasses.replace, not only files.
        check_name(self.name, "name")
        for recipe in self.recipes:
            check_name(recipe, f"recipes.{_printable(recipe)}")

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        """A plain, TOML/JSON-ready form (round-trips through :func:`parse_experiment`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "seeds": list(self.seeds),
            "output": self.output,
            "data": to_dict(self.data),
            "train": to_dict(self.train),
            "recipes": {r: [_technique_dict(s) for s in t] for r, t in self.recipes.items()},
            "pillars": {p.name: to_dict(p.config) for p in self.pillars},
        }
        if self.model is not None:
            out["model"] = {"name": self.model.name, **to_dict(self.model.config)}
        return out

    def trial_hash(self, recipe: str, seed: int, fraction: float = 1.0) -> str:
        """Hash of everything that determines one trial's result."""
        full = self.to_dict()
        key = {k: full.get(k) for k in ("data", "model", "train", "pillars")}
        key |= {"recipe": full["recipes"][recipe], "seed": seed, "fraction": fraction}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def pool_key(self, model: dict[str, Any]) -> str:
        """Hash of the data pool and the model, independent of seed and label fraction.

        Trials with the same pool key train on the same inputs (labelled or not) with the same
        architecture, so label-free work such as self-supervised pretraining can be shared.
        """
        data = {k: v for k, v in self.to_dict()["data"].items() if k != "label_fraction"}
        key = json.dumps({"data": data, "model": model}, sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _technique_dict(spec: TechniqueSpec) -> dict[str, Any]:
    return {"technique": spec.name, **to_dict(spec.config)}


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """Read an experiment TOML file, apply ``key=value`` overrides and validate it.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or a field is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} not found")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    if not raw and not overrides:
        # an empty file would silently run the default experiment, which nobody asked for
        raise ConfigError(
            f"{path} is empty; an experiment needs at least [data] dataset = ... and "
            "[recipes] (e.g. baseline = []); `fivefold explain data` lists the data options"
        )
    raw.setdefault("name", path.stem)
    return parse_experiment(apply_overrides(raw, overrides))


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides; values are TOML literals (strings may be left unquoted)."""
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=0.01")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a table")
            node = child
        node[parts[-1]] = _parse_value(text.strip())
    return out


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_experiment(raw: Mapping[str, Any]) -> Experiment:
    """Validate a raw experiment mapping (from TOML) into an :class:`Experiment`."""
    for key in raw:
        if key not in _KEYS:
            hint = did_you_mean(key, list(_KEYS))
            raise ConfigError(f"{key}: unknown option{hint}; allowed: {', '.join(_KEYS)}")
    name = raw.get("name", "experiment")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name: expected a non-empty string, got {name!r}")
    check_name(name, "name")
    seeds = _parse_seeds(raw.get("seeds", [0, 1, 2]))
    output = raw.get("output", "")
    if not isinstance(output, str) or not output.isprintable():
        raise ConfigError(
            f"output: expected a folder path without control characters, got {output!r}"
        )
    data = build(DataConfig, raw.get("data", {}), "data")
    from fivefold.data import DATASETS

    DATASETS.entry(data.dataset, field="data.dataset")
    return Experiment(
        name=name,
        data=data,
        model=MODELS.spec(raw["model"]) if "model" in raw else None,
        train=build(TrainConfig, raw.get("train", {}), "train"),
        recipes=_parse_recipes(raw.get("recipes", {"baseline": []})),
        pillars=PILLARS.specs(raw.get("pillars", [])),
        seeds=seeds,
        output=output,
    )


def _parse_seeds(raw: Any) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    ok = isinstance(raw, list) and raw and all(type(s) is int and s >= 0 for s in raw)
    if not ok or len(set(raw)) != len(raw):
        raise ConfigError(f"seeds: expected a list of distinct non-negative integers, got {raw!r}")
    return tuple(check_seed(s, f"seeds[{i}]") for i, s in enumerate(raw))


def _parse_recipes(raw: Any) -> dict[str, tuple[TechniqueSpec, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("recipes: expected a table of recipe name → list of techniques")
    recipes = {}
    for name, items in raw.items():
        check_name(name, f"recipes.{_printable(name)}")
        if not isinstance(items, list):
            raise ConfigError(f"recipes.{name}: expected a list of techniques, got {items!r}")
        specs = tuple(TECHNIQUES.spec(item, f"recipes.{name}[{i}]") for i, item in enumerate(items))
        check_recipe(name, specs)
        recipes[name] = specs
    return recipes


def check_name(value: Any, field: str) -> str:
    """``value`` if it is a valid experiment or recipe name: a folder name, never a path.

    Raises:
        ConfigError: ``value`` holds a separator or a control character, starts with a dot
            (``.``, ``..``, hidden folders), is empty or longer than 64 characters.
    """
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    raise ConfigError(
        f"{field}: use {_NAME_RULE} in names, got {reprlib.repr(value)}; "
        "a name is a folder name, not a path (use output/--out to choose where a run goes)"
    )


def _printable(text: Any, limit: int | None = 40) -> str:
    """``text`` for an error line: control characters and newlines escaped, cut at ``limit``."""
    text = str(text)
    shown = text if text.isprintable() else repr(text)[1:-1]
    return shown if limit is None or len(shown) <= limit else f"{shown[: limit - 3]}..."


def inside(base: Path, *parts: str) -> Path:
    """``base / parts``, checked to stay inside ``base`` once ``..`` and symlinks are resolved.

    Raises:
        ConfigError: the path would leave ``base`` (a ``..``, an absolute part, or a symlink
            that points out of the folder) or cannot be resolved.
    """
    path = base.joinpath(*parts)
    try:
        root, resolved = base.resolve(), path.resolve()
    except (OSError, RuntimeError, ValueError) as err:
        raise ConfigError(f"{_printable(path, None)}: cannot resolve this path ({err})") from None
    if not resolved.is_relative_to(root):
        raise ConfigError(
            f"{_printable(path, None)} resolves to {resolved}, outside the output folder {root}; "
            "nothing was written there: remove the '..' or the link that leads out"
        )
    return path


def check_output_dir(path: Path, field: str = "output") -> None:
    """Check that ``path`` is, or can be made, a writable output folder.

    Raises:
        ConfigError: ``path`` (or a parent of it) is an existing file, or the nearest existing
            folder is not writable.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        why = "it is a file" if existing == path else f"{existing} is a file"
        raise ConfigError(
            f"{field}: {path} cannot be an output folder because {why}; "
            "choose a new or existing folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{field}: cannot write in {existing} (permission denied); "
            "choose a folder you can write to"
        )
