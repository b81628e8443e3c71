"""Result files: one versioned ``result.json`` per trial, written atomically."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Trial",
    "environment",
    "read_result",
    "read_results",
    "write_json",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Trial:
    """One unit of work: a recipe trained with one seed on one label fraction."""

    recipe: str
    seed: int
    fraction: float = 1.0

    @property
    def key(self) -> str:
        """Relative folder of the trial inside ``<output>/trials``."""
        if self.fraction >= 1.0:
            return f"{self.recipe}/seed-{self.seed}"
        return f"{self.recipe}/fraction-{self.fraction:g}/seed-{self.seed}"


def write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (temp file + rename): never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n")
    os.replace(tmp, path)


def read_result(path: Path) -> dict[str, Any] | None:
    """The result at ``path``, or None if it is missing or unreadable (then the trial re-runs)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    ok = isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION
    return data if ok else None


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """All readable trial results under ``run_dir/trials``, in a stable order."""
    found = (read_result(p) for p in sorted((run_dir / "trials").rglob("result.json")))
    return [r for r in found if r is not None]


def environment() -> dict[str, Any]:
    """Versions, machine and source revision, recorded in every result."""
    import numpy
    import torch

    from fivefold import __version__

    return {
        "fivefold": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        **_git_state(),
    }


def _git_state() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(dirty)}
