"""UCR/UEA time series bundled with sktime (or aeon), read from their ``.ts`` files.

The files are parsed here, without importing sktime: the package folder is located with
``importlib.util.find_spec``. Values are kept raw (UCR series are already z-normalised).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import DATASETS, RawData, package_dir, read_utf8, reject_options
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import DataError

__all__ = ["TsData", "find_ts_files", "load_ts_dataset", "parse_ts"]


@dataclass(frozen=True)
class TsData:
    """A parsed ``.ts`` file: values float32 (N, C, T), label names (N,), declared classes."""

    x: np.ndarray
    labels: tuple[str, ...]
    class_labels: tuple[str, ...]


def _parse_header(lines: list[str], path: Path) -> tuple[tuple[str, ...], int]:
    """Return the declared class labels and the index of the first data line."""
    classes: tuple[str, ...] = ()
    for number, line in enumerate(lines):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0].lower()
        if key == "@timestamps" and words[1:2] == ["true"]:
            raise DataError(f"{path}: time-stamped .ts files are not supported")
        if key == "@classlabel":
            if words[1:2] != ["true"]:
                raise DataError(f"{path}: @classLabel is not true; the file holds no labels")
            classes = tuple(words[2:])
        if key == "@data":
            if not classes:
                raise DataError(f"{path}: no @classLabel line before @data")
            return classes, number + 1
    raise DataError(f"{path}: no @data line; is this a .ts file?")


def _parse_case(line: str, path: Path, number: int) -> tuple[list[list[float]], str]:
    *dims, label = line.split(":")
    if not dims:
        raise DataError(f"{path}:{number}: expected 'values:...:label', got {line[:40]!r}")
    if "?" in line:
        raise DataError(f"{path}:{number}: missing values ('?') are not supported; impute them")
    try:
        values = [[float(v) for v in dim.split(",")] for dim in dims]
    except ValueError:
        raise DataError(f"{path}:{number}: a value is not a number") from None
    return values, label.strip()


def parse_ts(path: Path) -> TsData:
    """Parse an equal-length ``.ts`` file (sktime/UEA format).

    Header lines start with ``@``, comments with ``#``; after ``@data`` each line is one case:
    dimensions separated by ``:``, values by ``,``, and the class label last.

    Args:
        path: the ``.ts`` file.

    Returns:
        the values (N, C, T) float32, per-case labels and the declared class labels.

    Raises:
        DataError: malformed header or line, missing values, unequal lengths, unknown label.
    """
    lines = read_utf8(path).splitlines()
    classes, start = _parse_header(lines, path)
    cases: list[list[list[float]]] = []
    labels: list[str] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip() or line.startswith("#"):
            continue
        values, label = _parse_case(line, path, number)
        if label not in classes:
            raise DataError(f"{path}:{number}: label {label!r} not in @classLabel {classes}")
        if cases and [len(d) for d in values] != [len(d) for d in cases[0]]:
            raise DataError(f"{path}:{number}: series length or dimension count differs")
        cases.append(values)
        labels.append(label)
    if not cases:
        raise DataError(f"{path}: no cases after @data")
    return TsData(np.asarray(cases, dtype=np.float32), tuple(labels), classes)


def find_ts_files(name: str, folder: str | None) -> tuple[Path, Path]:
    """Locate ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``.

    Args:
        name: the archive name, e.g. "GunPoint".
        folder: a user folder holding the files (directly or in ``<name>/``); when None, the
            data bundled with sktime, then aeon.

    Returns:
        the TRAIN and TEST file paths.

    Raises:
        DataError: the folder or the installed packages do not hold the files.
    """
    if folder is not None:
        roots = [Path(folder), Path(folder) / name]
    else:
        packages = (package_dir(p) for p in ("sktime", "aeon"))
        roots = [p / "datasets" / "data" / name for p in packages if p is not None]
    for root in roots:
        train, test = root / f"{name}_TRAIN.ts", root / f"{name}_TEST.ts"
        if train.is_file() and test.is_file():
            return train, test
    files = f"{name}: {name}_TRAIN.ts/{name}_TEST.ts not found"
    if folder is not None:
        raise DataError(f"{files} in {folder}; set data.path to the folder holding them")
    raise DataError(
        f"{files}; install them with `pip install --no-deps sktime` "
        "(or set data.path to their folder)"
    )


def _split(data: TsData, classes: tuple[str, ...]) -> Split:
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[label] for label in data.labels], dtype=torch.int64)
    return Split(torch.from_numpy(data.x), y)


def _by_channels(split: Split, groups: dict[str, tuple[int, ...]]) -> Split:
    assert isinstance(split.x, torch.Tensor)
    x = {key: split.x[:, list(channels)].contiguous() for key, channels in groups.items()}
    return Split(x, split.y)


def load_ts_dataset(
    name: str, cfg: DataConfig, modalities: dict[str, tuple[int, ...]] | None = None
) -> RawData:
    """Load a UCR/UEA dataset with its official TRAIN/TEST split.

    Args:
        name: the archive name, e.g. "GunPoint".
        cfg: the data config (``path`` optionally names a folder with the files).
        modalities: optional input key → channel indices, to split channels into inputs.

    Returns:
        the raw data; each input is a "sequence" (C, T) without bounds.

    Raises:
        DataError: files missing or malformed, or TRAIN/TEST shapes disagree.
    """
    reject_options(cfg, sensitive=True)
    train_path, test_path = find_ts_files(name, cfg.path)
    train, test = parse_ts(train_path), parse_ts(test_path)
    if train.x.shape[1:] != test.x.shape[1:]:
        raise DataError(f"{test_path}: shape {test.x.shape[1:]} differs from TRAIN's")
    groups = modalities or {"x": tuple(range(train.x.shape[1]))}
    length = int(train.x.shape[2])
    inputs = {k: ModalityInfo(kind="sequence", shape=(len(c), length)) for k, c in groups.items()}
    pool, held = _split(train, train.class_labels), _split(test, train.class_labels)
    if modalities is not None:
        pool, held = _by_channels(pool, groups), _by_channels(held, groups)
    return RawData(pool, inputs, train.class_labels, test=held, source=str(train_path.parent))


@DATASETS.register(
    "basic_motions",
    help="BasicMotions (UEA): 40/40 smart-watch recordings, accelerometer + gyroscope "
    "inputs (3x100 each), 4 activities",
)
def load_basic_motions(cfg: DataConfig) -> RawData:
    """BasicMotions with two inputs: "accelerometer" (channels 0-2), "gyroscope" (3-5)."""
    return load_ts_dataset(
        "BasicMotions", cfg, {"accelerometer": (0, 1, 2), "gyroscope": (3, 4, 5)}
    )


@DATASETS.register("gunpoint", help="GunPoint (UCR): 50/150 motion series 1x150, 2 classes")
def load_gunpoint(cfg: DataConfig) -> RawData:
    """GunPoint, a single (1, 150) sequence input."""
    return load_ts_dataset("GunPoint", cfg)


@DATASETS.register(
    "italy_power_demand",
    help="ItalyPowerDemand (UCR): 67/1029 daily load curves 1x24, 2 classes",
)
def load_italy_power_demand(cfg: DataConfig) -> RawData:
    """ItalyPowerDemand, a single (1, 24) sequence input."""
    return load_ts_dataset("ItalyPowerDemand", cfg)
