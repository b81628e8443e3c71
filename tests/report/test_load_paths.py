"""The report reads epoch logs only from inside the run's ``trials/`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fivefold.report.load import _history_path


def _result(key: str) -> dict[str, Any]:
    return {"trial": {"key": key}}


def test_history_paths_stay_inside_trials(tmp_path: Path) -> None:
    trials = (tmp_path / "trials").resolve()
    inside = _history_path(tmp_path, _result("baseline/seed-0"))
    assert inside == trials / "baseline" / "seed-0" / "history.jsonl"
    for hostile in ("../../etc", "/etc", "a/../../../x"):
        assert _history_path(tmp_path, _result(hostile)).is_relative_to(trials)
