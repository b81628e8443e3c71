"""The ``[train]`` table of an experiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fivefold.schema import option

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every recipe of an experiment."""

    epochs: int = option(30, help="maximum number of passes over the training split", min=1)
    batch_size: int = option(64, help="samples per optimisation step", min=1)
    optimizer: Literal["adamw", "adam", "sgd"] = option("adamw", help="optimizer")
    lr: float = option(1e-3, help="peak learning rate", min=0.0, exclusive_min=True)
    weight_decay: float = option(1e-2, help="decoupled weight decay (L2 for sgd)", min=0.0)
    momentum: float = option(0.9, help="momentum (sgd only)", min=0.0, max=1.0)
    schedule: Literal["cosine", "linear", "constant"] = option(
        "cosine", help="learning-rate decay after warmup"
    )
    warmup_epochs: float = option(1.0, help="linear warmup length in epochs", min=0.0)
    grad_clip: float | None = option(
        1.0,
        help="clip the global gradient norm to this value (none: no clipping)",
        min=0.0,
        exclusive_min=True,
    )
    patience: int | None = option(
        10, help="stop after this many epochs without improvement (none: never)", min=1
    )
    monitor: Literal["val_loss", "val_accuracy"] = option(
        "val_loss", help="validation metric for early stopping and the best checkpoint"
    )
    restore_best: bool = option(
        True, help="end with the best weights by `monitor` (false: keep the last epoch's)"
    )
    min_val_rows: int = option(
        30,
        help="validation rows needed to select an epoch on; with fewer, early stopping is off "
        "and the last epoch's weights are kept (0: always select)",
        min=0,
    )
    eval_batch_size: int = option(1024, help="samples per evaluation forward pass", min=1)
    checkpoint: bool = option(True, help="save the best weights as model.safetensors")
    threads: int | None = option(
        None,
        help="torch CPU threads per trial (none: torch default, or cores divided by workers)",
        min=1,
    )
