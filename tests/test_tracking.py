"""Trackers: values written to TensorBoard and MLflow are read back with their own readers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from fivefold.errors import ConfigError
from fivefold.report.load import load_run
from fivefold.tracking import flat_metrics, log_mlflow, log_tensorboard, mlflow_key

FIXTURE = Path(__file__).parent / "report" / "fixtures" / "run"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "run", ignore=shutil.ignore_patterns("*.html", "*.md"))
    return tmp_path / "run"


def _baseline(run_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        (run_dir / "trials/baseline/seed-0/result.json").read_text()
    )
    return result


def _history(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "trials/baseline/seed-0/history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_tensorboard_events_read_back(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    results = load_run(run_dir).results
    for _ in range(2):  # logging twice must not duplicate points
        root = log_tensorboard(run_dir, results, tmp_path / "tb")
    acc = EventAccumulator(str(root / "baseline" / "seed-0"))
    acc.Reload()
    history = _history(run_dir)
    events = acc.Scalars("train/val_accuracy")
    assert [e.step for e in events] == [int(r["epoch"]) for r in history]
    assert [e.value for e in events] == pytest.approx([r["val_accuracy"] for r in history])
    expected = _baseline(run_dir)["pillars"]["robustness"]["metrics"]
    got = acc.Scalars("robustness/mean_corruption_accuracy")
    assert len(got) == 1
    assert got[0].value == pytest.approx(expected["mean_corruption_accuracy"]["value"], rel=1e-6)
    assert len(list((root / "adversarial").glob("seed-*"))) == 3  # failed trial logged too


def test_mlflow_runs_read_back(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = load_run(run_dir).results
    exp_id = log_mlflow(run_dir, results, uri)
    log_mlflow(run_dir, results, uri)  # the same trials again: skipped
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs([exp_id], output_format="list")
    assert sorted(r.data.tags["fivefold.trial"] for r in runs) == sorted(
        r["trial"]["key"] for r in results
    )
    base = next(r for r in runs if r.data.tags["fivefold.trial"] == "baseline/seed-0")
    result = _baseline(run_dir)
    for name, value in flat_metrics(result).items():
        assert base.data.metrics[mlflow_key(name)] == pytest.approx(value)
    assert base.data.params["seed"] == "0" and base.data.params["recipe"] == "baseline"
    client = mlflow.tracking.MlflowClient(uri)
    history = client.get_metric_history(base.info.run_id, "train/val_accuracy")
    assert [m.step for m in history] == [int(r["epoch"]) for r in _history(run_dir)]
    assert [a.path for a in client.list_artifacts(base.info.run_id)] == ["result.json"]
    failed = next(r for r in runs if r.data.tags["fivefold.trial"] == "adversarial/seed-1")
    assert failed.info.status == "FAILED"


def test_mlflow_key_keeps_allowed_characters() -> None:
    assert mlflow_key("robustness/pgd_accuracy@0.1") == "robustness/pgd_accuracy_0.1"
    assert mlflow_key("shift[rotation=15].accuracy") == "shift_rotation_15_.accuracy"


@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("torch.utils.tensorboard", lambda d, r, t: log_tensorboard(d, r, t / "tb")),
        ("mlflow", lambda d, r, t: log_mlflow(d, r, f"sqlite:///{t / 'x.db'}")),
    ],
)
def test_missing_package_is_a_one_line_config_error(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, call: Any
) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ConfigError, match=r"fivefold\[tracking\]") as err:
        call(run_dir, load_run(run_dir).results, tmp_path)
    assert "\n" not in str(err.value)
