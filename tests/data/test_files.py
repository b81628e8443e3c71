"""User files (csv, parquet, npz, jsonl): good files load, bad files fail with one clear line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from fivefold.data import DataConfig, Task, load_task
from fivefold.errors import ConfigError, DataError

ROWS = 60


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    colors = np.array(["red", "green", "blue", None], dtype=object)[np.arange(ROWS) % 4]
    return pd.DataFrame(
        {
            "size": rng.normal(10.0, 3.0, ROWS),
            "count": np.arange(ROWS) % 7,
            "color": colors,
            "flag": np.arange(ROWS) % 3 == 0,
            "sex": np.where(np.arange(ROWS) % 2 == 0, "f", "m"),
            "region": np.array(["north", "south", "east"])[np.arange(ROWS) // 20],
            "label": np.where(np.arange(ROWS) % 5 < 2, "yes", "no"),
        }
    )


def _load(path: Path, **options: Any) -> Task:
    kind = path.suffix.lstrip(".")
    return load_task(DataConfig(dataset=kind, path=str(path), **options))


def _csv(tmp_path: Path, frame: pd.DataFrame | None = None) -> Path:
    path = tmp_path / "table.csv"
    (_frame() if frame is None else frame).to_csv(path, index=False)
    return path


def _npz(tmp_path: Path, **arrays: Any) -> Path:
    path = tmp_path / "arrays.npz"
    np.savez(path, **arrays)
    return path


def _jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _x(task: Task, split: str) -> torch.Tensor:
    x = task.splits[split].x
    assert isinstance(x, torch.Tensor)
    return x


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_table_with_categoricals_sensitive_and_domain(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"table.{kind}"
    getattr(_frame(), f"to_{kind}")(path, index=False)
    task = _load(path, sensitive="sex", domain="region", test_domains=("north",))
    info = task.inputs["x"]
    assert info.feature_names[:2] == ("size", "count")
    assert "color=missing" in info.feature_names and "sex=f" in info.feature_names
    assert not any(n.startswith(("region", "label")) for n in info.feature_names)
    assert len(info.categorical) == 3 and task.class_names == ("no", "yes")
    assert task.group_names == ("f", "m") and task.train.group is not None
    assert list(task.shifts) == ["domain=north"] and len(task.shifts["domain=north"]) == 20
    assert sum(len(s) for s in task.splits.values()) == 40
    train = _x(task, "train")
    torch.testing.assert_close(train[:, :2].mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    assert info.shape == (train.shape[1],)


def test_table_without_domain_is_split_stratified(tmp_path: Path) -> None:
    task = _load(_csv(tmp_path), target="label")
    assert sum(len(s) for s in task.splits.values()) == ROWS
    assert task.group_names is None and not task.shifts
    assert task.info["official_test"] == 0


def test_npz_tabular_without_test(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 4)) * 100
    task = _load(_npz(tmp_path, x=x, y=np.arange(50) % 2))
    assert task.inputs["x"].kind == "tabular" and task.inputs["x"].bounds is None
    assert len(task.test) == 10 and task.class_names == ("0", "1")
    assert float(_x(task, "train").abs().max()) > 10  # not standardised


def test_npz_given_test_split_is_used_as_is(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 1, 5, 5), dtype=np.uint8)
    test_images = rng.integers(0, 256, (7, 1, 5, 5), dtype=np.uint8)
    y, y_test = np.arange(30) % 3 + 5, np.array([5, 6, 7, 5, 6, 7, 5])
    task = _load(
        _npz(tmp_path, x=images, y=y, group=np.arange(30) % 2, x_test=test_images, y_test=y_test,
             group_test=np.ones(7, dtype=int)),
    )  # fmt: skip
    info = task.inputs["x"]
    assert info.kind == "image" and info.bounds == (0.0, 1.0) and info.shape == (1, 5, 5)
    torch.testing.assert_close(_x(task, "test"), torch.from_numpy(test_images / 255).float())
    assert task.test.y.tolist() == [0, 1, 2, 0, 1, 2, 0] and task.class_names == ("5", "6", "7")
    assert task.test.group is not None and task.test.group.tolist() == [1] * 7
    assert len(task.train) + len(task.val) == 30


def test_npz_sequences_and_modality_option(tmp_path: Path) -> None:
    path = _npz(tmp_path, x=np.zeros((20, 2, 9), np.float32), y=np.arange(20) % 2)
    assert _load(path).inputs["x"].kind == "sequence"
    with pytest.raises(DataError, match=r"data\.modality = 'image' needs rank 4"):
        _load(path, modality="image")


def test_jsonl_texts_labels_and_groups(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": f"great movie number {i}" if i % 2 else f"bad one {i}",
                    "label": "pos" if i % 2 else "neg", "group": i % 3})
        for i in range(40)
    ]  # fmt: skip
    task = _load(_jsonl(tmp_path, [*lines[:20], "", *lines[20:]]))
    assert task.class_names == ("neg", "pos") and task.group_names == ("0", "1", "2")
    assert task.inputs["x"].kind == "text" and task.inputs["x"].shape == (64,)
    assert task.test.texts is not None and task.text_encoder is not None
    assert torch.equal(task.text_encoder(task.test.texts), _x(task, "test"))


def test_jsonl_integer_labels(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "a b", "label": i % 3}) for i in range(30)]
    assert _load(_jsonl(tmp_path, lines)).class_names == ("0", "1", "2")


def _bad_csv(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    return lambda tmp_path: _csv(tmp_path, change(_frame()))


def _with_nan(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 7], "size"] = np.nan
    return frame


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    return make


def _arrays(**arrays: Any) -> Callable[[Path], Path]:
    return lambda tmp_path: _npz(tmp_path, **arrays)


def _lines(*lines: str) -> Callable[[Path], Path]:
    return lambda tmp_path: _jsonl(tmp_path, list(lines))


X, Y = np.zeros((10, 3)), np.arange(10) % 2
BAD_FILES: dict[str, tuple[Callable[[Path], Path], dict[str, Any], str]] = {
    "missing file": (lambda p: p / "nope.csv", {}, "file not found"),
    "empty csv": (_write("e.csv", b""), {}, "file is empty"),
    "header only": (_write("h.csv", b"a,label\n"), {}, "no data rows"),
    "nan numbers": (_bad_csv(_with_nan), {}, "column 'size' has 2 missing/NaN/Inf"),
    "no target": (_bad_csv(lambda f: f), {"target": "lable"}, "did you mean 'label'"),
    "one class": (_bad_csv(lambda f: f.assign(label="yes")), {}, "only one class"),
    "empty target": (_bad_csv(lambda f: f.assign(label=None)), {}, "60 empty value"),
    "no sensitive": (_bad_csv(lambda f: f), {"sensitive": "gender"}, "no column 'gender'"),
    "corrupt parquet": (_write("c.parquet", b"not parquet"), {}, "cannot read as parquet"),
    "corrupt npz": (_write("c.npz", b"PK\x03\x04junk"), {}, "cannot read as .npz"),
    "no y": (_arrays(x=X), {}, "missing array 'y'"),
    "length mismatch": (_arrays(x=X, y=np.arange(9) % 2), {}, "x=10, y=9"),
    "wrong rank": (_arrays(x=np.zeros((10, 1, 1, 1, 2)), y=Y), {}, "rank 5"),
    "nan inputs": (_arrays(x=np.full((10, 3), np.nan), y=Y), {}, "x: 30 NaN/Inf"),
    "unseen test label": (
        _arrays(x=X, y=Y, x_test=X[:2], y_test=np.array([0, 2])),
        {},
        "y_test has value",
    ),
    "test without labels": (_arrays(x=X, y=Y, x_test=X), {}, "missing array 'y_test'"),
    "test shape": (_arrays(x=X, y=Y, x_test=X[:, :2], y_test=Y), {}, "x_test rows have shape"),
    "float labels": (_arrays(x=X, y=Y + 0.5), {}, "non-integer"),
    "group without test": (_arrays(x=X, y=Y, group=Y, x_test=X, y_test=Y), {}, "not 'group_test'"),
    "bad json": (_lines('{"text": "a", "label": 1}', '{"text": "b", label: 2}'), {}, ":2: invalid"),
    "no text": (_lines('{"label": 1}'), {}, ":1: expected an object"),
    "no json": (_lines("", ""), {}, "no JSON lines"),
    "json one class": (_lines('{"text": "a", "label": 1}'), {}, "only one class"),
    "some groups": (
        _lines('{"text": "a", "label": 1, "group": "x"}', '{"text": "b", "label": 2}'),
        {},
        ":2: no",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_one_clear_data_error(tmp_path: Path, case: str) -> None:
    make, options, message = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(DataError, match=message) as info:
        _load(path, **options)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"domain": "region", "test_domains": ("nort",)}, "did you mean 'north'"),
        ({"test_domains": ("north",)}, "set data.domain"),
        ({"domain": "region", "test_domains": ("north", "south", "east")}, "every domain"),
        ({"domain": "label"}, "cannot be the target"),
    ],
)
def test_bad_domain_options_are_config_errors(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(_csv(tmp_path), **options)


def test_user_format_needs_a_path() -> None:
    with pytest.raises(ConfigError, match=r"set data\.path"):
        load_task(DataConfig(dataset="csv"))


def test_an_npz_zip_feature_numpy_cannot_read_is_a_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zipfile raises NotImplementedError for e.g. "zip file version 21.0" or patched data
    from fivefold.data import arrays
    from fivefold.errors import DataError

    def unsupported(*_a: object, **_k: object) -> None:
        raise NotImplementedError("zip file version 21.0")

    monkeypatch.setattr(np, "load", unsupported)
    with pytest.raises(DataError, match=r"cannot read as \.npz"):
        arrays._read_npz(tmp_path / "x.npz")
