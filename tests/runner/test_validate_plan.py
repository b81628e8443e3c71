"""Plan-time validation: everything knowable before training fails in one line, before any file
of the run is written (the output folder is never created)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from support import tiny_experiment as experiment

from fivefold.cli import main
from fivefold.config import Experiment
from fivefold.errors import ConfigError, DataError, FivefoldError
from fivefold.runner.run import run_experiment, validate_plan


def series_file(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "series.npz"
    np.savez(path, x=rng.normal(size=(60, 2, 16)).astype(np.float32), y=np.arange(60) % 2)
    return str(path)


def csv_file(tmp_path: Path, labels: list[int]) -> str:
    path = tmp_path / "small.csv"
    frame = pd.DataFrame({"a": np.arange(len(labels), dtype=float), "label": labels})
    frame.to_csv(path, index=False)
    return str(path)


def rejected(exp: Experiment, error: type[FivefoldError], **kwargs: Any) -> str:
    """The one-line message ``run_experiment`` fails with; nothing of the run is written."""
    with pytest.raises(error) as info:
        run_experiment(exp, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert not exp.output_dir.exists() or not any(exp.output_dir.iterdir())
    return message


def test_lora_on_a_model_without_adaptable_layers_fails_at_plan_time(tmp_path: Path) -> None:
    data = {"dataset": "npz", "path": series_file(tmp_path)}
    exp = experiment(tmp_path, data=data, model={"name": "gru"}, recipes={"lora": ["peft"]})
    message = rejected(exp, ConfigError)
    assert message.startswith("recipes.lora with model 'gru': peft: no layer of the model")
    assert "Linear, Conv1d/2d/3d, Embedding and MultiheadAttention" in message
    assert "GRU" in message and "method = 'bitfit'" in message
    adapters = experiment(
        tmp_path,
        data=data,
        model={"name": "gru"},
        recipes={"a": [{"technique": "peft", "method": "adapter"}]},
    )
    assert "adapter adapts Linear, Conv1d/2d/3d and Embedding" in rejected(adapters, ConfigError)


def test_models_with_adaptable_layers_pass_and_leave_the_random_stream_alone(
    tmp_path: Path,
) -> None:
    data = {"dataset": "npz", "path": series_file(tmp_path)}
    bitfit = {"technique": "peft", "method": "bitfit"}
    validate_plan(experiment(tmp_path, data=data, model={"name": "gru"}, recipes={"b": [bitfit]}))
    state = torch.random.get_rng_state()
    validate_plan(experiment(tmp_path, data=data, recipes={"lora": ["peft"], "base": []}))
    assert torch.equal(state, torch.random.get_rng_state())
    assert not (tmp_path / "run").exists()


def test_transfer_freezing_beside_peft_fails_at_plan_time(tmp_path: Path) -> None:
    probe = {"technique": "transfer", "strategy": "linear_probe"}
    exp = experiment(tmp_path, recipes={"both": [probe, "peft"]})
    message = rejected(exp, ConfigError)
    assert message.startswith("recipes.both with model 'mlp': 'transfer' with strategy")
    assert 'use strategy = "full" beside peft' in message


def test_transfer_checkpoint_is_checked_at_plan_time(tmp_path: Path) -> None:
    missing = {"technique": "transfer", "checkpoint": str(tmp_path / "nope.safetensors")}
    message = rejected(experiment(tmp_path, recipes={"ft": [missing]}), DataError)
    assert message.startswith("recipes.ft with model 'mlp': transfer.checkpoint: ")
    assert "nope.safetensors not found" in message


@pytest.mark.parametrize(
    ("labels", "split", "counts"),
    [
        ([0, 1, 2, 3], "test", "(4 rows, at most 1 of a class, test_fraction 0.2)"),
        ([0, 0, 1, 1, 2, 2], "val", "(6 rows, at most 2 of a class, val_fraction 0.1)"),
    ],
)
def test_a_csv_too_small_for_a_split_fails_at_plan_time(
    tmp_path: Path, labels: list[int], split: str, counts: str
) -> None:
    data = {"dataset": "csv", "path": csv_file(tmp_path, labels)}
    message = rejected(experiment(tmp_path, data=data), DataError)
    assert message.startswith(f"data: the {split} split of small.csv would hold 0 rows {counts}")
    assert "give at least" in message


def test_the_smallest_csv_that_fills_every_split_loads(tmp_path: Path) -> None:
    data = {"dataset": "csv", "path": csv_file(tmp_path, [0, 0, 0, 1, 1])}
    validate_plan(experiment(tmp_path, data=data))


@pytest.mark.parametrize("workers", [0, -2])
def test_workers_below_one_are_rejected(tmp_path: Path, workers: int) -> None:
    message = rejected(experiment(tmp_path), ConfigError, workers=workers)
    assert message == f"--workers: expected a whole number of processes >= 1, got {workers}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nlr = nan\n", "train.lr: nan is not a finite number; allowed: (0.0, inf]"),
        ("[train]\nlr = inf\n", "train.lr: inf is not a finite number"),
        ("[data]\ntest_fraction = nan\n", "data.test_fraction: nan is not a finite number"),
        ("seeds = [18446744073709551616]\n", "seeds[0]: 18446744073709551616 is out of range"),
        ("", "is empty; an experiment needs at least [data] dataset"),
        ("# only a comment\n", "is empty"),
        ("[pillars.robustness]\n[pillars.robustness]\n", "is not valid TOML"),
    ],
)
def test_cli_rejects_bad_files_in_one_line_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(text)
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists()
