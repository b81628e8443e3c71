"""User arrays (``npz``) and texts (``jsonl``)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.files import user_file
from fivefold.data.raw import (
    DATASETS,
    RawData,
    check_finite,
    encode_labels,
    read_utf8,
    single_class_check,
    text_placeholder,
)
from fivefold.data.task import Modality, ModalityInfo, Split
from fivefold.data.text import text_inputs
from fivefold.errors import DataError

__all__ = ["load_jsonl", "load_npz"]

RANK_MODALITY: dict[int, Modality] = {2: "tabular", 3: "sequence", 4: "image"}
MODALITY_RANK = {m: r for r, m in RANK_MODALITY.items()}


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, NotImplementedError) as err:
        raise DataError(f"{path}: cannot read as .npz ({err}); save it with numpy.savez") from None


def _modality(x: np.ndarray, cfg: DataConfig, path: Path) -> Modality:
    if x.ndim not in RANK_MODALITY:
        raise DataError(
            f"{path}: x has rank {x.ndim} {x.shape}; expected 2 (N, F), 3 (N, C, T) "
            "or 4 (N, C, H, W)"
        )
    if cfg.modality != "auto" and MODALITY_RANK[cfg.modality] != x.ndim:
        raise DataError(
            f"{path}: data.modality = {cfg.modality!r} needs rank {MODALITY_RANK[cfg.modality]} "
            f"x, got rank {x.ndim} {x.shape}"
        )
    return RANK_MODALITY[x.ndim]


def _features(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{path}: {name} has dtype {x.dtype}; expected numbers")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    values = x.astype(np.float32)
    check_finite(values, f"{path}: {name}")
    return values


def _label_values(y: np.ndarray, name: str, path: Path) -> list[Any]:
    if y.ndim != 1:
        raise DataError(f"{path}: {name} must be 1-D (N,), got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{path}: {name} holds non-integer values; store class labels")
        return y.astype(np.int64).tolist()  # type: ignore[no-any-return]
    return y.tolist()  # type: ignore[no-any-return]


def _check_lengths(arrays: dict[str, np.ndarray], keys: tuple[str, ...], path: Path) -> None:
    present = [k for k in keys if k in arrays]
    lengths = {k: len(arrays[k]) for k in present}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise DataError(f"{path}: arrays have different lengths ({shown}); they must match")


def _check_keys(arrays: dict[str, np.ndarray], path: Path) -> None:
    for need, given in (("x", "x"), ("y", "x"), ("y_test", "x_test"), ("x_test", "y_test")):
        if need not in arrays and given in arrays:
            found = ", ".join(sorted(arrays)) or "none"
            raise DataError(f"{path}: missing array {need!r} (found: {found}); save it too")
    if "x" not in arrays:
        raise DataError(f"{path}: missing arrays 'x' and 'y' (found: {', '.join(sorted(arrays))})")
    if "group" in arrays and "x_test" in arrays and "group_test" not in arrays:
        raise DataError(f"{path}: 'group' is given but not 'group_test'; save both or neither")
    _check_lengths(arrays, ("x", "y", "group"), path)
    _check_lengths(arrays, ("x_test", "y_test", "group_test"), path)


def _encode_pair(
    train: list[Any], test: list[Any] | None, what: str, path: Path
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
    """Ids of train values and of test values in the train vocabulary."""
    ids, names = encode_labels(train)
    if test is None:
        return ids, None, names
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(v) for v in test} - set(index))
    if unknown:
        raise DataError(
            f"{path}: {what}_test has value(s) not in {what}: {', '.join(unknown[:5])}; "
            f"every test {what} must occur in training"
        )
    return ids, torch.tensor([index[str(v)] for v in test], dtype=torch.int64), names


def _bounds(kind: Modality, arrays: list[np.ndarray]) -> tuple[float, float] | None:
    if kind != "image":
        return None
    inside = all(a.size == 0 or (a.min() >= 0.0 and a.max() <= 1.0) for a in arrays)
    return (0.0, 1.0) if inside else None


def _npz_inputs(arrays: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """The float32 ``x`` and, when given, ``[x_test]`` (an empty list otherwise)."""
    x = _features(arrays["x"], "x", path)
    if "x_test" not in arrays:
        return x, []
    x_test = _features(arrays["x_test"], "x_test", path)
    if x_test.shape[1:] != x.shape[1:]:
        raise DataError(
            f"{path}: x_test rows have shape {x_test.shape[1:]} but x rows {x.shape[1:]}; "
            "they must match"
        )
    return x, [x_test]


def _npz_ids(
    arrays: dict[str, np.ndarray], key: str, path: Path
) -> tuple[torch.Tensor, torch.Tensor | None, tuple[str, ...]]:
    """Ids of ``key`` (y or group) and of ``key_test`` when a test split is given."""
    test = f"{key}_test"
    test_values = _label_values(arrays[test], test, path) if "x_test" in arrays else None
    return _encode_pair(_label_values(arrays[key], key, path), test_values, key, path)


@DATASETS.register(
    "npz",
    help="a NumPy .npz file (data.path): x, y, optional group, and an optional "
    "x_test/y_test/group_test used as the test split",
)
def load_npz(cfg: DataConfig) -> RawData:
    """Load arrays ``x`` (N, ...) and ``y`` (N,), optional ``group``, optional test arrays.

    The modality is ``data.modality`` or the rank of ``x``: 2 tabular (N, F), 3 sequence
    (N, C, T), 4 image (N, C, H, W). uint8 inputs are scaled to [0, 1]; images get bounds
    (0, 1) when all values lie inside. Values are not standardised. A given test split is used
    as is.

    Raises:
        DataError: missing arrays, wrong rank, length mismatch, NaN/Inf, non-integer or
            single-class labels, test labels/groups unseen in training.
    """
    path = user_file(cfg)
    arrays = _read_npz(path)
    _check_keys(arrays, path)
    kind = _modality(arrays["x"], cfg, path)
    x, x_test = _npz_inputs(arrays, path)
    y, y_test, names = _npz_ids(arrays, "y", path)
    single_class_check(y, f"{path}: y")
    group, group_test, group_names = (
        _npz_ids(arrays, "group", path) if "group" in arrays else (None, None, None)
    )
    info = ModalityInfo(kind, tuple(x.shape[1:]), _bounds(kind, [x, *x_test]))
    test = None
    if x_test and y_test is not None:
        test = Split(torch.from_numpy(x_test[0]), y_test, group_test)
    pool = Split(torch.from_numpy(x), y, group)
    return RawData(pool, {"x": info}, names, test=test, group_names=group_names, source=str(path))


def _json_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(read_utf8(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}:{number}: invalid JSON ({err.msg}); one object per line"
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "label" not in row:
            raise DataError(
                f"{path}:{number}: expected an object with a string 'text' and a 'label'"
            )
        rows.append((number, row))
    if not rows:
        raise DataError(f"{path}: no JSON lines found")
    return rows


def _json_labels(rows: list[tuple[int, dict[str, Any]]], key: str, path: Path) -> list[Any]:
    values = [row.get(key) for _, row in rows]
    for (number, _), value in zip(rows, values, strict=True):
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise DataError(f"{path}:{number}: {key!r} must be a string or an integer")
    if not all(isinstance(v, int) for v in values):
        values = [str(v) for v in values]
    return values


@DATASETS.register(
    "jsonl",
    help='a JSON-lines file (data.path): one {"text": ..., "label": ...} object per line, '
    'optional "group"',
)
def load_jsonl(cfg: DataConfig) -> RawData:
    """Load texts with labels (string or int) and optional groups, one JSON object per line.

    Raises:
        DataError: missing/empty file, malformed line (with its number), one class, or a
            group given on some lines only.
    """
    path = user_file(cfg)
    rows = _json_rows(path)
    y, names = encode_labels(_json_labels(rows, "label", path))
    single_class_check(y, f"{path}: label")
    has_group = ["group" in row for _, row in rows]
    group, group_names = None, None
    if any(has_group):
        if not all(has_group):
            line = rows[has_group.index(False)][0]
            raise DataError(f"{path}:{line}: no 'group'; give a group on every line or on none")
        group, group_names = encode_labels(_json_labels(rows, "group", path))
    texts = tuple(row["text"] for _, row in rows)
    pool = Split(text_placeholder(len(texts)), y, group, texts)
    return RawData(pool, text_inputs(), names, group_names=group_names, source=str(path))
