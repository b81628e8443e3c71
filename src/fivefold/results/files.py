"""Result files: one versioned ``result.json`` per trial, written atomically, validated on read."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Trial",
    "environment",
    "read_result",
    "read_result_checked",
    "read_results",
    "read_results_checked",
    "validate_result",
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
    """The result at ``path``, or None if it is missing or not a valid result (then the trial
    re-runs); :func:`read_result_checked` also says why."""
    return read_result_checked(path)[0]


def read_result_checked(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Read and validate the result at ``path`` against the schema of :data:`SCHEMA_VERSION`.

    Returns:
        ``(result, None)`` for a valid result, ``(None, reason)`` for a file that is present but
        unusable (unreadable, not JSON, or not a valid result) and ``(None, None)`` when there
        is no file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as err:
        return None, f"cannot be read ({err})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
    except (ValueError, RecursionError) as err:  # e.g. an int too long, or absurd nesting
        return None, f"not valid JSON ({type(err).__name__})"
    reason = validate_result(data)
    return (None, reason) if reason else (data, None)


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """All valid trial results under ``run_dir/trials``, in a stable order."""
    return read_results_checked(run_dir)[0]


def read_results_checked(run_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The valid trial results under ``run_dir/trials`` and (path, reason) of every unusable
    ``result.json`` there, both in a stable order."""
    valid: list[dict[str, Any]] = []
    invalid: list[tuple[Path, str]] = []
    for path in sorted((run_dir / "trials").rglob("result.json")):
        result, reason = read_result_checked(path)
        if result is not None:
            valid.append(result)
        elif reason is not None:
            invalid.append((path, reason))
    return valid, invalid


def validate_result(data: object) -> str | None:
    """Why ``data`` is not a valid result of :data:`SCHEMA_VERSION` (the first problem found),
    or None when it is one."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {_kind(data)}"
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1, hence the type check
        return f"schema_version is {_kind(version)}, expected {SCHEMA_VERSION}"
    checks = (_check_header, _check_trial, _check_status, _check_metrics, _check_pillars)
    for check in (*checks, _check_evidence):
        reason = check(data)
        if reason is not None:
            return reason
    return None


def _kind(value: object) -> str:
    """A JSON-ish description of ``value`` for a reason string, e.g. ``string 'NaN'``."""
    names = {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{'a string' if isinstance(value, str) else 'the number'} {text}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_metric(value: object) -> bool:
    """A metric value: a finite number or NaN (a metric that could not be computed)."""
    if not _is_number(value):
        return False
    try:
        return not math.isinf(float(value))  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range
        return False


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _want(data: dict[str, Any], name: str, ok: Callable[[object], bool], what: str) -> str | None:
    if name not in data:
        return f"{name} is missing"
    return None if ok(data[name]) else f"{name} should be {what}, got {_kind(data[name])}"


def _first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r is not None), None)


def _is_dict(value: object) -> bool:
    return isinstance(value, dict)


def _check_header(data: dict[str, Any]) -> str | None:
    timings = data.get("timings")
    bad_timing = isinstance(timings, dict) and any(not _is_number(v) for v in timings.values())
    has_hash = "config_hash" in data
    return _first(
        _want(data, "experiment", lambda v: isinstance(v, str), "a string"),
        # optional: `fivefold audit` results have none; the runner re-runs a trial without one
        _want(data, "config_hash", _is_text, "a non-empty string") if has_hash else None,
        _want(data, "timings", _is_dict, "an object"),
        "timings should hold numbers only" if bad_timing else None,
        None if isinstance(data.get("config", {}), dict) else "config should be an object",
    )


def _check_trial(data: dict[str, Any]) -> str | None:
    reason = _want(data, "trial", _is_dict, "an object")
    if reason is not None:
        return reason
    trial = data["trial"]
    fraction = trial.get("fraction")
    reason = _first(
        _want(trial, "recipe", _is_text, "a non-empty string"),
        _want(trial, "seed", lambda v: _is_number(v) and isinstance(v, int), "an integer"),
        _want(trial, "fraction", _is_metric, "a finite number"),
        _want(trial, "key", _is_text, "a non-empty string"),
        None if not _is_metric(fraction) or 0 < fraction <= 1 else "fraction should be in (0, 1]",
    )
    return None if reason is None else f"trial.{reason}"


def _check_status(data: dict[str, Any]) -> str | None:
    status = data.get("status")
    if status not in ("ok", "failed", "running"):
        return f"status is {_kind(status)}, expected 'ok', 'failed' or 'running'"
    if status != "failed":
        return None
    error = data.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return "error of a failed trial should be an object with a message string"
    return None


def _check_metrics(data: dict[str, Any]) -> str | None:
    reason = _want(data, "metrics", _is_dict, "an object")
    if reason is not None:
        return reason
    metrics = data["metrics"]
    for name, value in metrics.items():
        if not _is_metric(value):
            return f"metrics.{name} should be a finite number or NaN, got {_kind(value)}"
    if data["status"] == "ok" and "test_accuracy" not in metrics:
        return "metrics.test_accuracy is missing from a finished trial"
    return None


def _check_pillars(data: dict[str, Any]) -> str | None:
    reason = _want(data, "pillars", _is_dict, "an object")
    if reason is not None:
        return reason
    for name, pillar in data["pillars"].items():
        reason = _check_pillar(pillar)
        if reason is not None:
            return f"pillars.{name}{'' if reason.startswith(' ') else '.'}{reason}"
    return None


def _check_pillar(pillar: object) -> str | None:
    if not isinstance(pillar, dict):
        return f" should be an object, got {_kind(pillar)}"
    reason = _first(
        _want(pillar, "headline", _is_text, "a non-empty string"),
        _want(pillar, "metrics", _is_dict, "an object"),
        _want(pillar, "tables", _is_dict, "an object"),
        _want(pillar, "notes", lambda v: isinstance(v, list), "a list"),
    )
    if reason is not None:  # the checks below need the types checked above
        return reason
    notes_ok = all(isinstance(n, str) for n in pillar["notes"])
    return _first(
        _check_pillar_metrics(pillar["metrics"]),
        _check_tables(pillar["tables"]),
        None if notes_ok else "notes should be strings",
    )


def _check_pillar_metrics(metrics: dict[str, Any]) -> str | None:
    for name, metric in metrics.items():
        ok = (
            isinstance(metric, dict)
            and _is_metric(metric.get("value"))
            and isinstance(metric.get("higher_is_better"), bool)
        )
        if not ok:
            return f"metrics.{name} should be {{value: number or NaN, higher_is_better: bool}}"
    return None


def _check_evidence(data: dict[str, Any]) -> str | None:
    """``warnings`` (strings) and ``test_examples`` (per-row ``correct`` 0/1 string and
    ``nll`` numbers of one length), where present: the scorecard reads both."""
    warnings = data.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return "warnings should be a list of strings"
    examples = data.get("test_examples")
    if examples is None:
        return None
    bad = "test_examples should hold 'correct' (a string of 0/1) and 'nll' (numbers), per row"
    if not isinstance(examples, dict) or not examples:
        return None if examples == {} else bad
    correct, nll = examples.get("correct"), examples.get("nll")
    if not isinstance(correct, str) or set(correct) - {"0", "1"}:
        return bad
    if not isinstance(nll, list) or len(nll) != len(correct) or not all(map(_is_metric, nll)):
        return bad
    return None


def _check_tables(tables: dict[str, Any]) -> str | None:
    for name, rows in tables.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return f"tables.{name} should be a list of objects"
    return None


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
