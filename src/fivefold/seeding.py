"""Seeds come from one function; techniques and splits get child seeds derived from it."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

__all__ = ["child_seed", "seed_everything", "torch_generator"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch and make CPU kernels deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def child_seed(seed: int, *names: str | int | float) -> int:
    """A stable 63-bit seed derived from ``seed`` and a path of names (e.g. ``"split"``)."""
    text = "/".join([str(seed), *(str(n) for n in names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def torch_generator(seed: int, *names: str | int | float) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`child_seed`."""
    return torch.Generator().manual_seed(child_seed(seed, *names))
