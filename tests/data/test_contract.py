"""The contract every registered dataset keeps, checked on each entry of ``DATASETS``.

Every dataset loads at its smallest size (``max_train``) with transform shifts of its modality,
and must give: non-empty train/val/test splits; inputs of the shape, dtype and bounds its
``ModalityInfo`` declares, finite; int64 labels covering ``[0, n_classes)`` with one distinct
name per class; group ids in range wherever the task names groups; shift splits shaped like the
test split; the same tensors for the same config and another split for another split seed.
The user-file datasets (csv, parquet, npz, jsonl) read small files written here; a new
file-based dataset needs a writer in ``WRITERS``, a new built-in one nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from fivefold.data import DATASETS, DataConfig, ShiftConfig, Split, Task, load_task
from fivefold.data.shifts import SHIFT_MODALITIES
from fivefold.errors import DataError

NAMES = DATASETS.names()
MAX_TRAIN = 10  # the smallest cap allowed; at least the class count of every built-in
ROWS = 48  # rows of each user file
OPTIONS: dict[str, dict[str, Any]] = {  # options that give a dataset groups or domains
    "adult": {"sensitive": "race"},
    "csv": {"sensitive": "sex", "domain": "region", "test_domains": ("north",)},
    "parquet": {"sensitive": "sex"},
}
STRENGTHS = {"rotation": 30.0, "noise": 0.1, "scaling": 0.5, "translation": 3.0}


def _frame() -> pd.DataFrame:
    rows = np.arange(ROWS)
    return pd.DataFrame(
        {
            "size": np.random.default_rng(0).normal(10.0, 3.0, ROWS),
            "color": np.array(["red", "green", None], dtype=object)[rows % 3],
            "sex": np.where(rows % 2 == 0, "f", "m"),
            "region": np.array(["north", "south", "east"])[rows % 3],
            "label": np.where(rows % 4 < 2, "yes", "no"),
        }
    )


def _write_npz(path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (ROWS, 1, 6, 6), dtype=np.uint8)
    np.savez(path, x=x, y=np.arange(ROWS) % 3, group=np.arange(ROWS) % 2)


def _write_jsonl(path: Path) -> None:
    words = ("good fine great", "bad poor awful")
    rows = [
        {"text": f"{words[i % 2]} film {i}", "label": i % 2, "group": i % 3} for i in range(ROWS)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


WRITERS: dict[str, Callable[[Path], None]] = {
    "csv": lambda path: _frame().to_csv(path, index=False),
    "parquet": lambda path: _frame().to_parquet(path, index=False),
    "npz": _write_npz,
    "jsonl": _write_jsonl,
}


def config(name: str, folder: Path, split_seed: int = 0) -> DataConfig:
    """The smallest config of dataset ``name`` (user files are written into ``folder``)."""
    path = None
    if name in WRITERS:
        path = folder / f"data.{name}"
        if not path.exists():
            WRITERS[name](path)
    return DataConfig(
        dataset=name,
        path=None if path is None else str(path),
        max_train=MAX_TRAIN,
        split_seed=split_seed,
        **OPTIONS.get(name, {}),
    )


def with_shifts(cfg: DataConfig, task: Task) -> DataConfig:
    """``cfg`` plus every transform shift that applies to all the inputs of ``task``."""
    kinds = {info.kind for info in task.inputs.values()}
    shifts = tuple(
        ShiftConfig(kind, (strength,))  # type: ignore[arg-type]
        for kind, strength in STRENGTHS.items()
        if kinds <= set(SHIFT_MODALITIES[kind])
    )
    return replace(cfg, shifts=shifts)


def load(cfg: DataConfig) -> Task:
    """Load ``cfg``; skip when the data a built-in ships in another package is absent here."""
    try:
        return load_task(cfg)
    except DataError as err:
        # Only a missing file is an environment matter; malformed data must fail the test.
        if cfg.path is None and "not found" in str(err):
            pytest.skip(f"{cfg.dataset}: its data is not installed on this machine ({err})")
        raise


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user_files")


@pytest.fixture(scope="module", params=NAMES)
def cfg(request: pytest.FixtureRequest, folder: Path) -> DataConfig:
    """The dataset's smallest config with its shifts; module scope loads each dataset once."""
    base = config(request.param, folder)
    return with_shifts(base, load(base))


@pytest.fixture(scope="module")
def task(cfg: DataConfig) -> Task:
    return load(cfg)


def inputs(split: Split) -> dict[str, torch.Tensor]:
    return split.x if isinstance(split.x, dict) else {"x": split.x}


def all_splits(task: Task) -> Iterator[tuple[str, Split]]:
    yield from task.splits.items()
    yield from task.shifts.items()


def assert_same(a: Task, b: Task) -> None:
    assert list(a.splits) == list(b.splits) and list(a.shifts) == list(b.shifts)
    for (name, one), (_, two) in zip(all_splits(a), all_splits(b), strict=True):
        for key, x in inputs(one).items():
            assert torch.equal(x, inputs(two)[key]), f"{name}: {key} differs"
        assert torch.equal(one.y, two.y), f"{name}: labels differ"
        assert one.texts == two.texts, f"{name}: texts differ"
        if one.group is None or two.group is None:
            assert one.group is two.group, f"{name}: groups on one side only"
        else:
            assert torch.equal(one.group, two.group), f"{name}: groups differ"


def test_every_dataset_has_a_help_line() -> None:
    assert NAMES, "no dataset is registered"
    for entry in DATASETS:
        assert callable(entry.obj), entry.name
        assert entry.help.strip() and "\n" not in entry.help, f"{entry.name}: one help line"


def test_splits_present_and_non_empty(task: Task, cfg: DataConfig) -> None:
    assert task.name == cfg.dataset
    assert {"train", "val", "test"} <= set(task.splits)
    for name, split in task.splits.items():
        assert len(split) > 0, f"{name} is empty"
        assert task.info[f"n_{name}"] == len(split)
    assert len(task.train) <= MAX_TRAIN


def test_inputs_match_their_modality_info(task: Task) -> None:
    for name, split in all_splits(task):
        x = inputs(split)
        assert set(x) == set(task.inputs), name
        for key, info in task.inputs.items():
            where = f"{name}/{key}"
            assert tuple(x[key].shape) == (len(split), *info.shape), where
            assert x[key].dtype == (torch.int64 if info.kind == "text" else torch.float32), where
            assert bool(torch.isfinite(x[key].float()).all()), f"{where}: NaN/Inf"
            if info.bounds is not None:
                low, high = info.bounds
                assert low <= float(x[key].min()) and float(x[key].max()) <= high, where


def test_modality_info_is_consistent(task: Task) -> None:
    for key, info in task.inputs.items():
        assert info.shape and all(d > 0 for d in info.shape), key
        if info.bounds is not None:
            assert info.bounds[0] < info.bounds[1], key
        if info.feature_names:
            assert len(info.feature_names) == info.shape[0], key
        onehot = [i for group in info.categorical for i in group]
        assert len(set(onehot)) == len(onehot) and all(0 <= i < info.shape[0] for i in onehot)
        assert (info.vocab_size > 2) == (info.kind == "text"), key  # padding, unknown, words


def test_text_ids_and_encoder(task: Task) -> None:
    text = [key for key, info in task.inputs.items() if info.kind == "text"]
    assert (task.text_encoder is not None) == bool(text)
    for key in text:
        assert task.text_encoder is not None
        for name, split in all_splits(task):
            assert split.texts is not None and len(split.texts) == len(split), name
            ids = inputs(split)[key]
            assert int(ids.min()) >= 0 and int(ids.max()) < task.inputs[key].vocab_size, name
            assert torch.equal(task.text_encoder(split.texts), ids), name


def test_labels_and_class_names(task: Task) -> None:
    names = task.class_names
    assert len(names) == task.n_classes >= 2
    assert len(set(names)) == len(names) and all(isinstance(n, str) and n for n in names)
    for name, split in all_splits(task):
        assert split.y.dtype == torch.int64 and split.y.shape == (len(split),), name
        assert int(split.y.min()) >= 0 and int(split.y.max()) < task.n_classes, name
    assert torch.unique(task.train.y).tolist() == list(range(task.n_classes))  # stratified cap


def test_groups_are_ids_in_range(task: Task) -> None:
    for name, split in all_splits(task):
        if task.group_names is None:
            assert split.group is None, f"{name}: groups without group names"
            continue
        assert split.group is not None, f"{name}: no groups"
        assert split.group.dtype == torch.int64 and split.group.shape == (len(split),), name
        assert int(split.group.min()) >= 0, name
        assert int(split.group.max()) < len(task.group_names), name
    if task.group_names is not None:
        assert len(set(task.group_names)) == len(task.group_names) >= 2


def test_shift_splits_keep_the_test_shapes(task: Task, cfg: DataConfig) -> None:
    transforms = [f"{s.kind}={s.strengths[0]:g}" for s in cfg.shifts]
    domains = [f"domain={d}" for d in cfg.test_domains]
    assert sorted(task.shifts) == sorted(transforms + domains)
    for name in transforms:
        shifted = task.shifts[name]
        assert torch.equal(shifted.y, task.test.y), name
        for key, x in inputs(shifted).items():
            original = inputs(task.test)[key]
            assert x.shape == original.shape and x.dtype == original.dtype, f"{name}/{key}"


def test_same_config_same_tensors(task: Task, cfg: DataConfig) -> None:
    assert_same(task, load(cfg))


def test_other_split_seed_other_split(task: Task, cfg: DataConfig) -> None:
    other = load(replace(cfg, split_seed=cfg.split_seed + 1))
    assert [len(s) for s in other.splits.values()] == [len(s) for s in task.splits.values()]
    moved = [
        name
        for name in ("train", "val")
        if any(
            not torch.equal(x, inputs(other.splits[name])[key])
            for key, x in inputs(task.splits[name]).items()
        )
    ]
    assert moved, "train and val are the same under another split seed"
