"""The command line: user errors are one line with exit code 2 and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fivefold.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fivefold.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unknown_key_is_one_line_exit_2(tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text("[train]\nepocs = 3\n")
    proc = run_cli("run", str(exp))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "train.epocs: unknown option (did you mean 'epochs'?)" in lines[0]


def test_missing_file_and_bad_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    exp = tmp_path / "exp.toml"
    exp.write_text("")
    assert main(["run", str(exp), "--set", "train.lr=-3"]) == 2
    assert "train.lr: -3.0 is out of range" in capsys.readouterr().err


def test_list_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "fashion_mnist" in out
    assert main(["explain", "train"]) == 0
    assert "warmup_epochs" in capsys.readouterr().out
    assert main(["explain", "mlpp"]) == 2
    assert "did you mean 'mlp'" in capsys.readouterr().err


def test_run_end_to_end_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(
        'seeds = [0]\n[model]\nname = "mlp"\n[train]\nepochs = 1\n[recipes]\nbaseline = []\n'
    )
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "baseline" in out
    assert (tmp_path / "out" / "scorecard.json").is_file()
