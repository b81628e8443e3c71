"""``fivefold report`` over unusable result files: each named on stderr, exit 1, the report
written from the valid ones and scorecard.json rebuilt from the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fivefold.cli import main
from fivefold.report.load import load_run
from fivefold.results.files import read_results
from fivefold.results.scorecard import build_scorecard


def _damage(run_dir: Path) -> list[Path]:
    edited = run_dir / "trials" / "augment" / "seed-1" / "result.json"
    data = json.loads(edited.read_text())
    del data["metrics"]
    edited.write_text(json.dumps(data))
    truncated = run_dir / "trials" / "baseline" / "seed-1" / "result.json"
    truncated.write_text(truncated.read_text()[:100])
    return [edited, truncated]


def test_unusable_files_are_listed_and_left_out(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run_dir / "scorecard.json").write_text(json.dumps(build_scorecard("x", read_results(run_dir))))
    damaged = _damage(run_dir)
    assert main(["report", str(run_dir)]) == 1
    err = capsys.readouterr().err.splitlines()
    left = [line for line in err if line.startswith("left out ")]
    assert len(left) == 2
    for path, line in zip(sorted(damaged), left, strict=True):
        assert str(path) in line
    assert "metrics is missing" in left[0] and "not valid JSON" in left[1]
    summary = (run_dir / "summary.md").read_text()
    assert "2 unusable result file(s) left out" in summary
    assert "| augment | 1/1 |" in summary
    assert "2 unusable result file(s) left out" in (run_dir / "report.html").read_text()
    card = json.loads((run_dir / "scorecard.json").read_text())
    assert card == json.loads(json.dumps(load_run(run_dir).scorecard))
    assert card["recipes"]["augment"]["n_ok"] == 1
    assert card["recipes"]["baseline"]["metrics"]["test_accuracy"]["n"] == 1


def test_a_clean_folder_exits_0_and_its_scorecard_matches(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert "left out" not in capsys.readouterr().err
    card = json.loads((run_dir / "scorecard.json").read_text())
    assert card == json.loads(json.dumps(load_run(run_dir).scorecard))
    assert "left out" not in (run_dir / "summary.md").read_text()


def test_a_folder_of_only_unusable_files_is_one_line_exit_2(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (run_dir / "trials").rglob("result.json"):
        path.write_text("[]")
    assert main(["report", str(run_dir)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "none of its 7 result file(s) is usable" in lines[0]
    assert "expected a JSON object, got a list" in lines[0]
