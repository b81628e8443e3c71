"""The ``[data]`` table of an experiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fivefold.schema import option

__all__ = ["DataConfig", "ShiftConfig"]


@dataclass(frozen=True)
class ShiftConfig:
    """A transform shift applied to the test split at one or more strengths."""

    kind: Literal["rotation", "noise", "scaling", "translation"] = option(
        help="transform: rotation (degrees, images), noise (gaussian std in units of the "
        "input range), scaling (multiplicative factor), translation (pixels or time steps)"
    )
    strengths: tuple[float, ...] = option(help="one shifted test split per strength")


@dataclass(frozen=True)
class DataConfig:
    """Which data to use and how to split it."""

    dataset: str = option("digits", help="built-in dataset, or csv|parquet|npz|jsonl with path")
    path: str | None = option(None, help="user file or folder (required for csv/parquet/npz/jsonl)")
    target: str = option(
        "label",
        help="label column (csv/parquet); clothing_reviews: 'recommended' (the default) or "
        "'rating' (1-5 stars as 5 classes)",
    )
    classes: tuple[str | int, ...] = option(
        (),
        help="class order: class names as the data writes them (or numbers), id 0 first "
        "(empty: sorted, numbers numerically); use it to match a model trained with another "
        "order",
    )
    sensitive: str | None = option(
        None,
        help="sensitive attribute: a column name (csv/parquet), 'sex'/'race' for adult, or "
        "'age' (bands <30, 30-44, 45-59, 60+) for clothing_reviews",
    )
    domain: str | None = option(None, help="domain column for a domain shift (csv/parquet)")
    test_domains: tuple[str, ...] = option(
        (), help="domains held out of training; each becomes a shift split"
    )
    modality: Literal["auto", "image", "sequence", "tabular"] = option(
        "auto", help="input modality of an npz file (auto: inferred from the array rank)"
    )
    inputs: tuple[str, ...] = option(
        (),
        help="keep only these inputs of a multi-input dataset, e.g. ['gyroscope'] of "
        "basic_motions (one kept input becomes the task's single input 'x'); empty: all",
    )
    test_fraction: float = option(
        0.2, help="test share when the data has no official test split", min=0.05, max=0.5
    )
    val_fraction: float = option(
        0.1, help="validation share of the training data", min=0.01, max=0.5
    )
    label_fraction: float = option(
        1.0,
        help="share of labelled training data kept (nested, stratified)",
        min=0.0,
        max=1.0,
        exclusive_min=True,
    )
    max_train: int | None = option(
        None, help="stratified cap on the training split size (before label_fraction)", min=10
    )
    split_seed: int = option(
        0, help="seed of the train/val/test split (fixed across trials), below 2**63", min=0
    )
    shifts: tuple[ShiftConfig, ...] = option((), help="transform shifts of the test split")
