"""Image datasets: scikit-learn digits and Fashion-MNIST (IDX files, parsed with NumPy)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import DATASETS, RawData, package_dir, reject_options
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import DataError

__all__ = ["FASHION_CLASSES", "FASHION_MNIST_DIR", "load_digits", "load_fashion_mnist", "read_idx"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_IDX_UBYTE = 0x08


def _image_info(shape: tuple[int, ...]) -> dict[str, ModalityInfo]:
    return {"x": ModalityInfo(kind="image", shape=shape, bounds=(0.0, 1.0))}


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Digits pixels (N, 64) and labels (N,): read scikit-learn's bundled CSV directly.

    Reading the file skips the slow ``sklearn.datasets`` import; ``load_digits`` is the
    fallback should a future scikit-learn move the file.
    """
    root = package_dir("sklearn")
    path = root / "datasets" / "data" / "digits.csv.gz" if root else None
    if path is not None and path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return np.asarray(bunch.data, np.float32), np.asarray(bunch.target, np.int64)


@DATASETS.register("digits", help="scikit-learn handwritten digits: 1797 images 1x8x8, 10 classes")
def load_digits(cfg: DataConfig) -> RawData:
    """Load scikit-learn's digits as (1, 8, 8) float32 images in [0, 1] (pixels / 16).

    Raises:
        ConfigError: ``data.path`` or ``data.sensitive`` is set.
    """
    reject_options(cfg, path=True, sensitive=True)
    pixels, labels = _digits_arrays()
    x = torch.from_numpy(pixels / 16.0).reshape(-1, 1, 8, 8)
    names = tuple(str(c) for c in range(10))
    return RawData(
        Split(x, torch.from_numpy(labels)), _image_info((1, 8, 8)), names, source="scikit-learn"
    )


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parse IDX bytes (big-endian magic ``0x0000 08 ndim``, then ``ndim`` uint32 sizes)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE:
        raise DataError(f"{name}: not an unsigned-byte IDX file (bad magic number); re-download it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{name}: corrupt IDX header ({ndim} dimensions); re-download it")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(dims)):
        raise DataError(
            f"{name}: corrupt IDX file: header says {dims} = {int(np.prod(dims))} bytes, "
            f"found {len(data) - header}; re-download it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=4)
def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped or plain) IDX file of unsigned bytes; cached and read-only.

    Args:
        path: an ``*-ubyte`` or ``*-ubyte.gz`` file.

    Returns:
        uint8 array with the dimensions of the IDX header, e.g. (N, 28, 28) or (N,).

    Raises:
        DataError: the file is not valid (gzip or IDX).
    """
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read IDX file ({err}); re-download it") from None
    return _parse_idx(data, str(path))


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _fashion_files(folder: Path) -> dict[str, Path]:
    stems = {
        f"{part}_{kind}": f"{prefix}-{kind}-{idx}-ubyte"
        for part, prefix in (("train", "train"), ("test", "t10k"))
        for kind, idx in (("images", "idx3"), ("labels", "idx1"))
    }
    found = {key: _idx_file(folder, stem) for key, stem in stems.items()}
    missing = [stems[k] for k, p in found.items() if p is None]
    if missing:
        raise DataError(
            f"fashion_mnist: IDX files not found in {folder} (missing {', '.join(missing)}); "
            "install them with `apt-get install dataset-fashion-mnist` or set data.path to a "
            "folder holding them"
        )
    return {k: p for k, p in found.items() if p is not None}


def _fashion_split(images: Path, labels: Path) -> Split:
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(
            f"{images}: expected (N, H, W) images and (N,) labels, got {x.shape} and {y.shape}"
        )
    if int(y.max(initial=0)) >= len(FASHION_CLASSES):
        raise DataError(f"{labels}: labels outside 0-9; re-download the file")
    pixels = torch.from_numpy(x.astype(np.float32)).div_(255.0).unsqueeze(1)
    return Split(pixels, torch.from_numpy(y.astype(np.int64)))


@DATASETS.register(
    "fashion_mnist",
    help="Fashion-MNIST: 60000 train + 10000 official test images 1x28x28, 10 classes",
)
def load_fashion_mnist(cfg: DataConfig) -> RawData:
    """Load Fashion-MNIST from ``data.path`` or the Debian package folder.

    Raises:
        DataError: files missing or corrupt.
        ConfigError: ``data.sensitive`` is set.
    """
    reject_options(cfg, sensitive=True)
    folder = Path(cfg.path) if cfg.path is not None else FASHION_MNIST_DIR
    files = _fashion_files(folder)
    train = _fashion_split(files["train_images"], files["train_labels"])
    test = _fashion_split(files["test_images"], files["test_labels"])
    shape = tuple(train.x.shape[1:]) if isinstance(train.x, torch.Tensor) else ()
    return RawData(train, _image_info(shape), FASHION_CLASSES, test=test, source=str(folder))
