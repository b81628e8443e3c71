"""Compare two run folders trial by trial: every number in result.json but timings.

Usage: python scripts/diff_runs.py RUN_A RUN_B [--tolerance 0]

Prints one line per value that differs (trial, path, a, b, |a - b|) and a summary; exits 1 when
any value differs by more than the tolerance. Timings, dates, environment and the git state are
ignored: they change on every run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IGNORED = {"timings", "started_at", "finished_at", "environment", "train_seconds", "seconds"}


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every scalar inside ``value``, ignored keys left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in IGNORED and not key.endswith("_s"):
                yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def results(run: Path) -> dict[str, dict[str, Any]]:
    """Trial key → result.json of every trial under ``run/trials``."""
    out = {}
    for path in sorted((run / "trials").rglob("result.json")):
        data = json.loads(path.read_text())
        out[data["trial"]["key"]] = data
    return out


def differs(a: Any, b: Any, tolerance: float) -> float | None:
    """|a - b| when the two values differ beyond ``tolerance`` (inf for non-numbers), else None."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return None
        gap = abs(a - b)
        return gap if gap > tolerance or math.isnan(gap) else None
    return None if a == b else math.inf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0)
    args = parser.parse_args()
    a, b = results(args.run_a), results(args.run_b)
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        print(f"trials differ: only in A {only_a}, only in B {only_b}")
    compared = changed = 0
    for key in sorted(set(a) & set(b)):
        left, right = dict(leaves(a[key])), dict(leaves(b[key]))
        for path in sorted(set(left) | set(right)):
            compared += 1
            gap = differs(left.get(path), right.get(path), args.tolerance)
            if gap is not None:
                changed += 1
                print(f"{key}  {path}  {left.get(path)!r}  {right.get(path)!r}  {gap:.3g}")
    print(f"{len(set(a) & set(b))} trials, {compared} values compared, {changed} differ")
    return 1 if changed or set(a) != set(b) else 0


if __name__ == "__main__":
    sys.exit(main())
