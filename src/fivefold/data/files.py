"""User tables: ``csv`` and ``parquet`` files with a target column.

Every column other than the target and the domain column is a feature: numeric columns
(standardised later with train statistics) and categoricals (object, string, category or bool
dtype; one-hot). The sensitive column (``data.sensitive``) gives the group ids and stays a
feature, as for the built-in Adult data, so setting it never changes what a model sees. The
domain column (``data.domain``) is not a
feature: its held-out values (``data.test_domains``) become shift splits "domain=<value>".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import DATASETS, RawData, encode_labels, read_utf8, single_class_check
from fivefold.data.tabular import column_ids, encode_frames
from fivefold.data.task import Split
from fivefold.errors import ConfigError, DataError
from fivefold.registry import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_csv", "load_parquet", "user_file"]


def user_file(cfg: DataConfig) -> Path:
    """The existing, non-empty file named by ``data.path``.

    Raises:
        ConfigError: ``data.path`` is not set.
        DataError: the file is missing, a folder or empty.
    """
    if cfg.path is None:
        raise ConfigError(
            f"data.path: dataset {cfg.dataset!r} reads a file; set data.path to the file"
        )
    path = Path(cfg.path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check data.path")
    if not path.is_file():
        raise DataError(f"{path}: is a folder; set data.path to a {cfg.dataset} file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; write the data to it or fix data.path")
    return path


def _read_frame(path: Path, kind: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if kind == "csv" else _read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no columns found; is the file empty?") from None
    except UnicodeDecodeError as err:
        read_utf8(path)  # raises the error that names the line and the byte offset
        raise _unreadable(path, kind, err) from None
    except (pd.errors.ParserError, ValueError, OSError) as err:
        raise _unreadable(path, kind, err) from None
    except Exception as err:  # pyarrow's base ArrowException (e.g. bad UTF-8) is no ValueError
        if kind != "parquet":
            raise
        raise _unreadable(path, kind, err) from None
    if len(frame) == 0:
        raise DataError(f"{path}: header only, no data rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    # pandas reads strings lazily: bad UTF-8 would only fail later, deep inside the encoding
    pq.read_table(path).validate(full=True)
    return pd.read_parquet(path)


def _unreadable(path: Path, kind: str, err: Exception) -> DataError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"{path}: cannot read as {kind} ({first})")


def _column(frame: pd.DataFrame, name: str, option: str, path: Path) -> pd.Series:
    if name not in frame.columns:
        columns = list(frame.columns)
        raise DataError(
            f"{path}: no column {name!r} for data.{option}{did_you_mean(name, columns)}; "
            f"columns: {', '.join(columns[:20])}"
        )
    return frame[name]


def _labels(
    frame: pd.DataFrame, cfg: DataConfig, path: Path
) -> tuple[torch.Tensor, tuple[str, ...]]:
    target = _column(frame, cfg.target, "target", path)
    missing = int(target.isna().sum())
    if missing:
        raise DataError(
            f"{path}: target column {cfg.target!r} has {missing} empty value(s); "
            "label or drop those rows"
        )
    y, names = encode_labels(target.tolist())
    single_class_check(y, f"{path}: column {cfg.target!r}")
    return y, names


def _categorical_columns(frame: pd.DataFrame, path: Path) -> list[str]:
    import pandas as pd

    categorical: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            if pd.api.types.is_datetime64_any_dtype(column):
                raise DataError(
                    f"{path}: column {name!r} holds dates; convert it to numbers or drop it"
                )
            categorical.append(str(name))
    return categorical


def _domains(
    frame: pd.DataFrame, cfg: DataConfig, path: Path
) -> tuple[torch.Tensor | None, tuple[str, ...], pd.Series]:
    """Domain ids and names, and a mask of the rows whose categories define the encoding."""
    import pandas as pd

    if cfg.domain is None:
        return None, (), pd.Series(True, index=frame.index)
    if cfg.domain == cfg.target:
        raise ConfigError("data.domain: the domain column cannot be the target column")
    column = _column(frame, cfg.domain, "domain", path)
    ids, names = column_ids(column)
    held = [names.index(d) for d in cfg.test_domains if d in names]
    fit = pd.Series(~torch.isin(ids, torch.tensor(held, dtype=torch.int64)).numpy(), frame.index)
    return ids, names, fit


def _groups(
    frame: pd.DataFrame, cfg: DataConfig, path: Path
) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    if cfg.sensitive is None:
        return None, None
    if cfg.sensitive == cfg.target:
        raise ConfigError("data.sensitive: the sensitive column cannot be the target column")
    return column_ids(_column(frame, cfg.sensitive, "sensitive", path))


def _load_table(cfg: DataConfig, kind: str) -> RawData:
    path = user_file(cfg)
    frame = _read_frame(path, kind)
    y, class_names = _labels(frame, cfg, path)
    group, group_names = _groups(frame, cfg, path)
    domain, domain_names, fit = _domains(frame, cfg, path)
    features = frame.drop(columns=[c for c in (cfg.target, cfg.domain) if c is not None])
    if features.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides the target {cfg.target!r}")
    categorical = _categorical_columns(features, path)
    (x,), info = encode_frames(features[fit], [features], categorical, str(path))
    return RawData(
        Split(x, y, group),
        {"x": info},
        class_names,
        group_names=group_names,
        domain=domain,
        domain_names=domain_names,
        standardize=True,
        source=str(path),
    )


@DATASETS.register(
    "csv",
    help="a CSV file (data.path) with a header; label column data.target, optional "
    "data.sensitive and data.domain columns",
)
def load_csv(cfg: DataConfig) -> RawData:
    """Load a CSV table (see the module docstring for how columns are used).

    Raises:
        ConfigError: ``data.path`` unset, or a column option names the target.
        DataError: file missing/empty/unreadable, missing column, NaN/Inf numbers, one class.
    """
    return _load_table(cfg, "csv")


@DATASETS.register(
    "parquet",
    help="a Parquet file (data.path); label column data.target, optional data.sensitive "
    "and data.domain columns",
)
def load_parquet(cfg: DataConfig) -> RawData:
    """Load a Parquet table (see the module docstring for how columns are used).

    Raises:
        ConfigError: ``data.path`` unset, or a column option names the target.
        DataError: file missing/empty/unreadable, missing column, NaN/Inf numbers, one class.
    """
    return _load_table(cfg, "parquet")
