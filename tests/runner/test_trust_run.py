"""A run on small data says where its numbers mislead: at plan time, per trial, in the
scorecard, result.json and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import tiny_experiment

from fivefold.cli import main
from fivefold.data import DataConfig, load_task
from fivefold.report import write_report
from fivefold.runner.run import plan_warnings
from fivefold.schema import build
from fivefold.training.config import TrainConfig


def small_csv(tmp_path: Path, n: int = 45) -> Path:
    """Three classes of pure noise: nothing to learn, few rows."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["label"] = [("x", "y", "z")[i % 3] for i in range(n)]
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    return path


def test_plan_warnings_name_small_splits(tmp_path: Path) -> None:
    cfg = {"dataset": "csv", "path": str(small_csv(tmp_path))}
    task = load_task(build(DataConfig, cfg, "data"))
    lines = plan_warnings(task, build(TrainConfig, {}, "train"))
    kinds = [line.split(":")[0] for line in lines]
    assert kinds == ["small validation split", "small test split"]
    assert f"{len(task.val)} rows, fewer than train.min_val_rows = 30" in lines[0]
    assert f"small test split: {len(task.test)} rows" in lines[1]
    assert plan_warnings(task, build(TrainConfig, {"min_val_rows": 0}, "train"))[0].startswith(
        "small test split"
    )


def test_a_run_on_noise_warns_everywhere_the_number_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = tmp_path / "e.toml"
    exp.write_text(
        f'name = "noise"\nseeds = [0, 1, 2]\npillars = ["generalization"]\n'
        f'[data]\ndataset = "csv"\npath = "{small_csv(tmp_path)}"\n'
        "[train]\nepochs = 3\n[recipes]\nbaseline = []\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(exp), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "! small validation split" in printed
    assert printed.count("small validation split") == 1  # said once, not per trial
    result = json.loads((out / "trials" / "baseline" / "seed-0" / "result.json").read_text())
    assert result["task"]["classes"] == ["x", "y", "z"]
    assert len(result["test_examples"]["correct"]) == result["task"]["rows"]["test"]
    assert result["warnings"][0].startswith("small validation split")
    assert result["checks"]["chance_accuracy"] == pytest.approx(1 / 3)
    nll = np.mean(result["test_examples"]["nll"])
    assert nll == pytest.approx(result["metrics"]["test_nll"], rel=1e-5)
    card = json.loads((out / "scorecard.json").read_text())
    assert card["warnings"][0].startswith("small validation split")
    html, md = write_report(out)
    text = md.read_text()
    assert "**Warnings**" in text and "small validation split" in text
    assert "classes (id order)" in text and "0 x, 1 y, 2 z" in text
    assert "Warnings" in html.read_text()


def test_tiny_experiment_has_no_trust_warning(tmp_path: Path) -> None:
    """Digits has splits big enough for everything: no warning at plan time."""
    from fivefold.runner.run import validate_plan

    assert validate_plan(tiny_experiment(tmp_path)) == []
