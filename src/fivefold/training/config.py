"""The ``[train]`` table of an experiment."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from fivefold.schema import option

__all__ = ["AUTO_STEPS", "TrainConfig"]

AUTO_STEPS = 1000
"""Optimisation steps that ``epochs = "auto"`` trains for (at least, within the bounds)."""
AUTO_MIN_EPOCHS = 30
AUTO_MAX_EPOCHS = 1000
AUTO_MIN_PATIENCE = 10


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every recipe of an experiment."""

    epochs: int | Literal["auto"] = option(
        "auto",
        help="maximum number of passes over the training split; auto: enough passes for "
        f"{AUTO_STEPS} optimisation steps, at least {AUTO_MIN_EPOCHS} and at most "
        f"{AUTO_MAX_EPOCHS} (small data get more passes)",
        min=1,
    )
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
    patience: int | Literal["auto"] | None = option(
        "auto",
        help="stop after this many epochs without improvement (none: never); auto: a fifth "
        f"of the epochs, at least {AUTO_MIN_PATIENCE}",
        min=1,
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

    def resolved(self, n_train: int) -> TrainConfig:
        """These settings with ``epochs`` and ``patience`` made concrete for ``n_train``
        training rows ("auto" → numbers; explicit values are kept).

        ``epochs = "auto"``: ``ceil(AUTO_STEPS / steps per epoch)`` within
        [``AUTO_MIN_EPOCHS``, ``AUTO_MAX_EPOCHS``], so that 36 series in batches of 64 get
        1000 passes of one step rather than 30 (a model that had not started to learn);
        ``patience = "auto"``: a fifth of those epochs, at least ``AUTO_MIN_PATIENCE``.
        """
        if isinstance(self.epochs, int):
            epochs = self.epochs
        else:
            steps = max(1, math.ceil(max(1, n_train) / self.batch_size))
            epochs = min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_STEPS / steps)))
        patience = self.patience
        if patience == "auto":
            patience = max(AUTO_MIN_PATIENCE, math.ceil(epochs / 5))
        return replace(self, epochs=epochs, patience=patience)

    @property
    def max_epochs(self) -> int:
        """``epochs`` of resolved settings (:meth:`resolved`).

        Raises:
            ValueError: ``epochs`` is still "auto".
        """
        if isinstance(self.epochs, str):
            raise ValueError("train.epochs is 'auto': call resolved(n_train) first")
        return self.epochs

    @property
    def patience_epochs(self) -> int | None:
        """``patience`` of resolved settings (None: never stop early).

        Raises:
            ValueError: ``patience`` is still "auto".
        """
        if isinstance(self.patience, str):
            raise ValueError("train.patience is 'auto': call resolved(n_train) first")
        return self.patience
