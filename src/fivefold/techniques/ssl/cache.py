"""The pretraining pool in a canonical order, and a safe on-disk cache of pretrained encoders.

Trials of one run share pretraining when everything that shapes it is the same: the data pool
(train ∪ unlabeled, which is one set of rows for every label fraction), the architecture and its
initial weights, and the pretraining options. The pool is sorted by a content hash (a fixed
random projection of each row) so its order — and with it the pretrained weights — does not
depend on how a label fraction split it. Files are written to a unique temporary name and
renamed into place, so trials running in parallel never read a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.data.task import Task

__all__ = [
    "canonical_pool",
    "load_cached",
    "pool_inputs",
    "save_cached",
    "state_digest",
    "tensor_digest",
]

PROJECTION_SEED = 20200213
"""Seed of the fixed projection that orders pool rows (any fixed value works)."""


def pool_inputs(task: Task) -> dict[str, torch.Tensor]:
    """Inputs of the training split and of any "unlabeled" split, by input name (unsorted)."""
    splits = [task.train] + ([task.splits["unlabeled"]] if "unlabeled" in task.splits else [])
    parts = [s.x if isinstance(s.x, dict) else {"x": s.x} for s in splits]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def row_hash(x: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N,) float64 content hash of each row: a fixed random projection of all its values."""
    flat = torch.cat([v.reshape(len(v), -1).double() for _, v in sorted(x.items())], dim=1)
    g = torch.Generator().manual_seed(PROJECTION_SEED)
    w = torch.randn(flat.shape[1], generator=g, dtype=torch.float64)
    return (flat * w).sum(dim=1)


def canonical_pool(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The rows of ``x`` sorted by :func:`row_hash` (identical rows are interchangeable)."""
    order = torch.sort(row_hash(x), stable=True).indices
    return {k: v[order] for k, v in x.items()}


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def state_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state dict (its parameters and buffers)."""
    return tensor_digest(dict(module.state_dict()))


def cache_paths(cache_dir: Path, material: dict[str, Any]) -> tuple[Path, Path]:
    """(weights, metadata) paths of the cache entry for the JSON-able ``material``."""
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]
    folder = cache_dir / "ssl"
    return folder / f"{key}.safetensors", folder / f"{key}.json"


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_cached(
    weights: Path, meta: Path, state: dict[str, torch.Tensor], info: dict[str, Any]
) -> None:
    """Write the metadata, then the weights (their presence marks a complete entry)."""
    _atomic_write(meta, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=1)))
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    _atomic_write(weights, lambda tmp: save_file(tensors, tmp))


def load_cached(weights: Path, meta: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The cached state dict and metadata, or None when absent or unreadable."""
    if not (weights.is_file() and meta.is_file()):
        return None
    try:
        return load_file(str(weights)), json.loads(meta.read_text())
    except (SafetensorError, OSError, ValueError):
        return None
