"""What a dataset loader returns (:class:`RawData`), the loader registry and shared helpers."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import ConfigError, DataError
from fivefold.registry import Registry

__all__ = [
    "DATASETS",
    "Loader",
    "RawData",
    "check_finite",
    "encode_labels",
    "package_dir",
    "read_utf8",
    "reject_options",
    "single_class_check",
    "text_placeholder",
]


@dataclass(frozen=True)
class RawData:
    """A loaded dataset before splitting: what every loader returns to :func:`load_task`.

    Text inputs are not encoded by loaders: their ``x`` is an (N, 0) int64 placeholder and the
    raw strings sit in ``Split.texts``; :func:`load_task` fits the vocabulary on the train split.

    Attributes:
        pool: the labelled rows to split into train/val (and test, when ``test`` is None);
            ``y`` int64 (N,) in ``[0, n_classes)``, ``group`` int64 (N,) or None.
        inputs: modality info per input key ("x" for single-input data).
        class_names: one name per class id.
        test: an official or user-given test split, used as is (never re-split), or None.
        group_names: names of the sensitive-attribute group ids, when ``group`` is set.
        domain: int64 (N,) domain id of every pool row, or None.
        domain_names: one name per domain id.
        standardize: z-score the non-categorical tabular columns with train statistics.
        source: where the bytes came from (a file or folder), for provenance.
        stream: every labelled row in arrival order, for online learning under drift (the
            task's "stream" split); None for data without an order.
        stream_info: facts about the stream (e.g. its drift positions) for ``Task.info``.
    """

    pool: Split
    inputs: Mapping[str, ModalityInfo]
    class_names: tuple[str, ...]
    test: Split | None = None
    group_names: tuple[str, ...] | None = None
    domain: torch.Tensor | None = None
    domain_names: tuple[str, ...] = ()
    standardize: bool = False
    source: str = ""
    stream: Split | None = None
    stream_info: Mapping[str, str | int | float] = field(default_factory=dict)


Loader = Callable[[DataConfig], RawData]
DATASETS: Registry[Loader] = Registry("dataset", home="fivefold.data")


def encode_labels(values: Sequence[object]) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Map label values to ids in sorted order (numbers numerically, otherwise as text).

    Args:
        values: one label per row (ints, strings, bools...).

    Returns:
        ids: int64 (N,) class ids; names: the sorted distinct values as strings.
    """
    distinct = set(values)
    numeric = all(isinstance(v, int | float | np.integer | np.floating) for v in distinct)
    order = sorted(distinct) if numeric else sorted(distinct, key=str)  # type: ignore[type-var]
    index = {v: i for i, v in enumerate(order)}
    ids = torch.tensor([index[v] for v in values], dtype=torch.int64)
    return ids, tuple(_label_name(v) for v in order)


def _label_name(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def check_finite(x: np.ndarray, where: str) -> None:
    """Raise unless every value of the float array ``x`` is finite.

    Raises:
        DataError: naming ``where`` and how many values are NaN or Inf.
    """
    if np.issubdtype(x.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise DataError(
                f"{where}: {bad} NaN/Inf value(s); remove or impute them before training"
            )


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it (None if absent)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def text_placeholder(n: int) -> torch.Tensor:
    """The (N, 0) int64 ``x`` of a text split before encoding."""
    return torch.zeros((n, 0), dtype=torch.int64)


def reject_options(cfg: DataConfig, *, path: bool = False, sensitive: bool = False) -> None:
    """Refuse ``data.path`` / ``data.sensitive`` for a dataset that does not use them.

    Raises:
        ConfigError: naming the option and the dataset.
    """
    if path and cfg.path is not None:
        raise ConfigError(
            f"data.path: dataset {cfg.dataset!r} does not read files; remove data.path "
            "or use dataset = 'csv' | 'parquet' | 'npz' | 'jsonl'"
        )
    if sensitive and cfg.sensitive is not None:
        raise ConfigError(
            f"data.sensitive: dataset {cfg.dataset!r} has no sensitive attribute; "
            "use 'adult' or a csv/parquet/npz/jsonl file with group labels"
        )


def single_class_check(y: torch.Tensor, where: str) -> None:
    """Raise when fewer than two classes are present.

    Raises:
        DataError: the labels hold a single class.
    """
    if int(torch.unique(y).numel()) < 2:
        raise DataError(f"{where}: only one class in the labels; a classifier needs at least two")


def read_utf8(path: Path) -> str:
    """The text of ``path``, decoded as UTF-8.

    Raises:
        DataError: the file is not valid UTF-8 (names the line and the byte offset).
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[err.start]:02x} at byte offset "
            f"{err.start}); save the file with UTF-8 encoding"
        ) from None
