"""Class order (``data.classes``), continuous-target refusal and the audit's evaluation rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fivefold.data import DataConfig, load_evaluation_task, load_task
from fivefold.data.labels import looks_continuous
from fivefold.errors import ConfigError, DataError
from fivefold.schema import build


def _csv(tmp_path: Path, labels: list[object], name: str = "d.csv") -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=len(labels)), "b": rng.normal(size=len(labels))})
    frame["label"] = labels
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _cfg(path: Path, **options: object) -> DataConfig:
    return build(DataConfig, {"dataset": "csv", "path": str(path), **options}, "data")


@pytest.mark.parametrize(
    ("names", "rows", "expected"),
    [
        (tuple(str(v) for v in range(25, 239)), 442, True),  # diabetes: 214 integer values
        (("1", "2", "3", "4", "5"), 1000, False),  # star ratings are classes
        (tuple(str(v) for v in range(100)), 50_000, False),  # 100 classes, 500 rows each
        (tuple(f"{v / 2:g}" for v in range(12)), 1000, True),  # fractional values
        (tuple(f"{v / 2:g}" for v in range(6)), 1000, False),  # a few half-steps: classes
        (tuple(f"c{v}" for v in range(300)), 400, False),  # strings are never continuous
    ],
)
def test_looks_continuous(names: tuple[str, ...], rows: int, expected: bool) -> None:
    assert looks_continuous(names, rows) is expected


def test_continuous_target_is_refused_with_how_to_bin(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = _csv(tmp_path, rng.integers(25, 346, size=442).tolist())
    with pytest.raises(DataError, match=r"looks continuous .* fivefold classifies; bin") as err:
        load_task(_cfg(path))
    assert "\n" not in str(err.value)


def test_explicit_classes_accept_many_numeric_classes(tmp_path: Path) -> None:
    labels = [v % 40 for v in range(120)]  # 40 classes of 3 rows: looks continuous
    path = _csv(tmp_path, labels)
    with pytest.raises(DataError, match="looks continuous"):
        load_task(_cfg(path))
    order = tuple(str(v) for v in range(40))
    task, _ = load_evaluation_task(_cfg(path, classes=order), "all")
    assert task.class_names == order


def test_classes_renumber_every_split(tmp_path: Path) -> None:
    labels = ["benign", "malignant", "benign", "benign"] * 25
    path = _csv(tmp_path, labels)
    plain = load_task(_cfg(path))
    assert plain.class_names == ("benign", "malignant")
    swapped = load_task(_cfg(path, classes=("malignant", "benign")))
    assert swapped.class_names == ("malignant", "benign")
    for name in ("train", "val", "test"):
        a, b = plain.splits[name], swapped.splits[name]
        assert np.array_equal(a.x.numpy(), b.x.numpy())  # the same rows, labels renamed
        assert np.array_equal(b.y.numpy(), 1 - a.y.numpy())


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (("benign",), r"'malignant' missing"),
        (("benign", "malignant", "other"), r"'other' not in the data"),
        (("benign", "benign", "malignant"), r"'benign' is listed twice"),
    ],
)
def test_bad_classes_name_the_problem(
    tmp_path: Path, classes: tuple[str, ...], message: str
) -> None:
    path = _csv(tmp_path, ["benign", "malignant"] * 20)
    with pytest.raises(ConfigError, match=message):
        load_task(_cfg(path, classes=classes))


def test_audit_scores_every_row_of_a_file_without_a_test_split(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["a", "b", "c"] * 30)
    task, scored = load_evaluation_task(_cfg(path))
    assert len(task.test) == 90 and len(task.val) == 0
    assert scored.startswith("all 90 rows of")
    assert task.info["evaluated_rows"] == "all"
    with pytest.raises(ConfigError, match=r"--rows test: d\.csv has no test split"):
        load_evaluation_task(_cfg(path), "test")


def test_audit_uses_an_official_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x=rng.normal(size=(40, 3)).astype(np.float32),
        y=np.arange(40) % 2,
        x_test=rng.normal(size=(12, 3)).astype(np.float32),
        y_test=np.arange(12) % 2,
    )
    cfg = build(DataConfig, {"dataset": "npz", "path": str(path)}, "data")
    task, scored = load_evaluation_task(cfg)
    assert len(task.test) == 12 and "official test split" in scored
    every, scored_all = load_evaluation_task(cfg, "all")
    assert len(every.test) == 52 and "test split included" in scored_all


def test_audit_of_a_built_in_dataset_scores_its_test_split() -> None:
    cfg = build(DataConfig, {"dataset": "digits"}, "data")
    task, scored = load_evaluation_task(cfg)
    assert len(task.test) == len(load_task(cfg).test)
    assert "test split" in scored
    with pytest.raises(ConfigError, match="--rows: expected one of"):
        load_evaluation_task(cfg, "some")
