"""Source-data pretraining: train the same model on another data set, cache its encoder.

The source model is a copy of the target model (same architecture, same starting weights)
with a head of its own, trained by the plain training loop on the source task. Its encoder
is cached under ``ctx.cache_dir``, keyed by the run's pool key, the source settings and a
digest of the starting weights: trials that start from the same weights (every seed of a
pretrained backbone, every label-fraction refit of one seed) train the source once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.data import load_task
from fivefold.data.config import DataConfig
from fivefold.data.task import Split, Task, index_inputs
from fivefold.errors import ConfigError
from fivefold.schema import to_dict
from fivefold.seeding import child_seed
from fivefold.techniques.transfer.blocks import encoder_and_head
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext

__all__ = ["SourceRun", "as_target_inputs", "source_encoder"]


@dataclasses.dataclass(frozen=True)
class SourceRun:
    """What the source run left: the encoder's tensors and a few facts about it."""

    tensors: dict[str, torch.Tensor]
    facts: dict[str, Any]


def _describe(task: Task) -> str:
    return ", ".join(f"{k} ({i.kind} {i.shape})" for k, i in sorted(task.inputs.items()))


def as_target_inputs(source: Task, target: Task, encoder: nn.Module) -> Task:
    """``source`` with inputs the target's model can take, or a ConfigError saying why not.

    Text is re-encoded with the target's own text encoder (its vocabulary or a backbone's
    tokenizer), so token ids mean the same words in both tasks. Other inputs must have the
    target's names and kinds, and the encoder must take them: a CNN pools globally and takes
    any image size with the target's channels, an MLP only the target's exact size.

    Args:
        source: the source task as loaded.
        target: the target task.
        encoder: the model's encoder, tried on two source samples (not modified).

    Raises:
        ConfigError: the inputs differ and cannot be re-encoded or taken by the encoder.
    """
    kinds = {i.kind for i in (*source.inputs.values(), *target.inputs.values())}
    encode = target.text_encoder
    if kinds == {"text"} and len(source.inputs) == len(target.inputs) == 1 and encode:

        def recode(split: Split) -> Split:
            if split.texts is None:
                raise ConfigError(f"transfer.source: dataset {source.name!r} has no raw texts")
            return dataclasses.replace(split, x=encode(split.texts))

        return dataclasses.replace(
            source,
            splits={n: recode(s) for n, s in source.splits.items() if n != "unlabeled"},
            shifts={},
            inputs=dict(target.inputs),
            text_encoder=encode,
        )
    shown = (
        f"dataset {source.name!r} has inputs {_describe(source)}, the target "
        f"{target.name!r} has {_describe(target)}"
    )
    if {k: i.kind for k, i in source.inputs.items()} != {
        k: i.kind for k, i in target.inputs.items()
    }:
        raise ConfigError(f"transfer.source: {shown}; choose a source with the same kinds of input")
    _try_encoder(encoder, source, shown)
    return source


def _try_encoder(encoder: nn.Module, source: Task, shown: str) -> None:
    probe = copy.deepcopy(encoder).eval()
    try:
        with torch.no_grad():
            probe(index_inputs(source.train.x, slice(0, 2)))
    except (RuntimeError, ValueError, IndexError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(
            f"transfer.source: the model cannot take the source's inputs ({shown}): {first}; "
            "choose a source with the target's channels (and size, unless the model pools "
            "globally like the cnn)"
        ) from None


def _digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _cache_path(cache_dir: Path, parts: dict[str, Any]) -> Path:
    key = json.dumps(parts, sort_keys=True, default=str)
    return (
        cache_dir / f"transfer-source-{hashlib.sha256(key.encode()).hexdigest()[:20]}.safetensors"
    )


def _write_atomic(path: Path, tensors: dict[str, torch.Tensor], facts: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        state = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        save_file(state, tmp, metadata={"facts": json.dumps(facts)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read(path: Path) -> SourceRun | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        return SourceRun(load_file(str(path)), json.loads(meta.get("facts", "{}")))
    except (OSError, ValueError, RuntimeError):
        return None  # a partial or foreign file: train again and overwrite it


def _train_source(model: nn.Module, source: Task, train: TrainConfig, seed: int) -> SourceRun:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, "transfer", "source"))
        src = copy.deepcopy(model)
        width = encoder_and_head(src)[1].in_features
        src.head = nn.Linear(width, source.n_classes)
        fitted = fit(src, source, FitContext(train, seed))
    best = fitted.history[fitted.best_epoch - 1] if fitted.history else {}
    facts = {
        "source_epochs_run": len(fitted.history),
        "source_val_accuracy": best.get("val_accuracy"),
        "source_train_seconds": fitted.train_seconds,
    }
    return SourceRun(dict(encoder_and_head(fitted.model)[0].state_dict()), facts)


def source_encoder(
    model: nn.Module,
    target: Task,
    data: DataConfig,
    train: TrainConfig,
    *,
    seed: int,
    cache_dir: Path | None,
    cache_key: str,
) -> SourceRun:
    """The encoder of ``model`` after training on the source ``data`` (cached when possible).

    Args:
        model: the target Classifier, at its starting weights (not modified).
        target: the target task (its inputs decide whether the source fits the model).
        data: the source data table.
        train: training settings of the source run.
        seed: the source run's seed.
        cache_dir: where to keep the source encoder (None: no caching).
        cache_key: the run's pool key (data pool and model architecture).

    Raises:
        ConfigError: the source's inputs do not fit the model.
    """
    parts = {
        "pool": cache_key,
        "source": to_dict(data),
        "train": to_dict(train),
        "seed": seed,
        "init": _digest(model),
    }
    path = _cache_path(cache_dir, parts) if cache_dir is not None else None
    cached = _read(path) if path is not None and path.is_file() else None
    if cached is not None:
        return SourceRun(cached.tensors, {**cached.facts, "source_cache": "hit"})
    source = as_target_inputs(load_task(data), target, encoder_and_head(model)[0])
    run = _train_source(model, source, train, seed)
    if path is not None:
        _write_atomic(path, run.tensors, run.facts)
    return SourceRun(run.tensors, {**run.facts, "source_cache": "miss" if path else "off"})
