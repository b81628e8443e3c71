"""Shared helpers for side-by-side benchmarks: interleaved repeats and a quiet-machine check."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def load_average() -> float:
    """1-minute load average (0 where unavailable)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each function ``repeats`` times in ABAB order; each returns a throughput."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            out[name].append(fn())
    return out


def timed(fn: Callable[[], object]) -> float:
    """Seconds taken by ``fn()``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def arrowhead_npz(path: Path) -> Path:
    """UCR ArrowHead (36 train / 175 test series of 251 steps, 3 classes), shipped in the sktime
    wheel but not a built-in dataset, written as a user's npz file (x, y, x_test, y_test)."""
    import numpy as np

    from fivefold.data.raw import package_dir
    from fivefold.data.timeseries import parse_ts

    folder = package_dir("sktime")
    assert folder is not None, "pip install --no-deps sktime"
    data = folder / "datasets" / "data" / "ArrowHead"
    train, test = parse_ts(data / "ArrowHead_TRAIN.ts"), parse_ts(data / "ArrowHead_TEST.ts")
    classes = sorted(set(train.labels))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x=train.x,
        y=np.array([classes.index(v) for v in train.labels]),
        x_test=test.x,
        y_test=np.array([classes.index(v) for v in test.labels]),
    )
    return path
