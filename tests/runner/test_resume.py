"""Resume: an edited result is set aside and recomputed, and a run killed with SIGKILL picks
up where it stopped with the same scorecard as an uninterrupted run.

Seeds train apart here so that numbers can be compared exactly: a recomputed seed trains alone,
and seeds trained together equal them only within float tolerance (test_seeds_together)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fivefold.cli import main
from fivefold.config import Experiment, parse_experiment
from fivefold.results.files import read_result_checked
from fivefold.runner.run import run_experiment

TOML = """name = "killed"
seeds = [0, 1, 2]
[data]
dataset = "digits"
[model]
name = "mlp"
hidden = [16]
[train]
epochs = 1
threads = 1
[recipes]
baseline = []
"""


def _diff_runs() -> ModuleType:
    """``scripts/diff_runs.py`` (not a package): its ``leaves`` and ``differs`` define what
    "the same run" means, timing fields left out."""
    path = Path(__file__).parents[2] / "scripts" / "diff_runs.py"
    spec = importlib.util.spec_from_file_location("diff_runs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DIFF = _diff_runs()


def same_numbers(a: Any, b: Any) -> bool:
    """Every leaf but the timings equal, metric values exactly (NaN equal to NaN)."""
    left, right = dict(DIFF.leaves(a)), dict(DIFF.leaves(b))
    return left.keys() == right.keys() and all(
        DIFF.differs(left[k], right[k], 0.0) is None for k in left
    )


def experiment(tmp_path: Path, seeds: list[int]) -> Experiment:
    """The experiment of :data:`TOML` in-process, with ``seeds``, writing to ``tmp_path/run``."""
    return parse_experiment(
        {**tomllib.loads(TOML), "seeds": seeds, "output": str(tmp_path / "run")}
    )


def test_an_edited_result_is_set_aside_and_recomputed(tmp_path: Path) -> None:
    exp = experiment(tmp_path, [0, 1])
    first = run_experiment(exp, together=False)
    card = json.loads((exp.output_dir / "scorecard.json").read_text())
    path = exp.output_dir / "trials" / "baseline" / "seed-1" / "result.json"
    edited = {k: v for k, v in json.loads(path.read_text()).items() if k != "metrics"}
    path.write_text(json.dumps(edited))  # valid JSON, same config hash, no metrics
    resumed = run_experiment(exp, together=False)
    assert resumed.skipped == 1
    [(moved, reason)] = resumed.set_aside
    assert moved.is_file() and json.loads(moved.read_text()) == edited
    assert moved.name == "result.json.invalid-1" and "metrics is missing" in reason
    result, problem = read_result_checked(path)
    assert problem is None and result is not None
    assert result["metrics"] == first.results[1]["metrics"]
    assert same_numbers(json.loads((exp.output_dir / "scorecard.json").read_text()), card)
    assert same_numbers(resumed.scorecard, first.scorecard)


def test_a_second_set_aside_keeps_the_first(tmp_path: Path) -> None:
    exp = experiment(tmp_path, [0])
    run_experiment(exp, together=False)
    path = exp.output_dir / "trials" / "baseline" / "seed-0" / "result.json"
    for n in (1, 2):
        path.write_text('{"schema_version": 1, "trial"')  # a truncated write
        [(moved, reason)] = run_experiment(exp, together=False).set_aside
        assert moved.name == f"result.json.invalid-{n}" and "not valid JSON" in reason
    assert len(list((exp.output_dir / "set-aside").rglob("result.json.invalid-*"))) == 2


def cli(toml: Path, out: Path) -> subprocess.Popen[str]:
    """``fivefold run`` with the seeds apart, so that trials finish one at a time."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fivefold.cli",
            "run",
            str(toml),
            "--out",
            str(out),
            "--seeds-apart",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def kill_after_first_result(proc: subprocess.Popen[str], out: Path) -> int:
    """SIGKILL ``proc`` as soon as one result.json exists; the number of results then."""
    deadline = time.monotonic() + 120
    while not list(out.glob("trials/*/*/result.json")):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return len(list(out.glob("trials/*/*/result.json")))


def test_a_run_killed_with_sigkill_resumes_to_the_same_scorecard(tmp_path: Path) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text(TOML)
    killed = cli(toml, tmp_path / "killed")
    finished = kill_after_first_result(killed, tmp_path / "killed")
    assert killed.returncode == -signal.SIGKILL
    assert 1 <= finished < 3, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "scorecard.json").exists()
    resumed = cli(toml, tmp_path / "killed")
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    assert f"reused {finished} finished trial(s)" in log
    # the uninterrupted run in-process, seeds apart as in the CLI runs above (one torch
    # thread as there): a third interpreter start would double the test's time for no extra
    # coverage
    run_experiment(experiment(tmp_path / "whole", [0, 1, 2]), together=False)
    a, b = (
        json.loads((folder / "scorecard.json").read_text())
        for folder in (tmp_path / "killed", tmp_path / "whole" / "run")
    )
    assert same_numbers(a, b)
    assert a["recipes"]["baseline"]["n_ok"] == 3


def test_fivefold_run_prints_one_line_per_file_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text(TOML.replace("[0, 1, 2]", "[0]"))
    assert main(["run", str(toml), "--out", str(tmp_path / "out")]) == 0
    (tmp_path / "out" / "trials" / "baseline" / "seed-0" / "result.json").write_text("[]")
    capsys.readouterr()
    assert main(["run", str(toml), "--out", str(tmp_path / "out")]) == 0
    [line] = [s for s in capsys.readouterr().out.splitlines() if "set aside" in s]
    assert "result.json.invalid-1" in line and "expected a JSON object, got a list" in line
