"""The runner: result files, seed determinism, resume after a failure, process pool."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from fivefold.config import Experiment, parse_experiment
from fivefold.pillars.base import Subject
from fivefold.pillars.data_efficiency import DataEfficiencyPillar
from fivefold.results.files import read_results
from fivefold.runner.run import plan_trials, run_experiment
from fivefold.runner.trial import _refit_training
from fivefold.training.hooks import FitContext, Technique


def experiment(tmp_path: Path, **overrides: Any) -> Experiment:
    raw: dict[str, Any] = {
        "name": "t",
        "seeds": [0, 1],
        "output": str(tmp_path / "run"),
        "data": {"dataset": "digits"},
        "model": {"name": "mlp", "hidden": [32]},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.01},
        "recipes": {"baseline": []},
    }
    for key, value in overrides.items():
        raw[key] = value
    return parse_experiment(raw)


def test_results_written_and_scorecard_aggregates(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    summary = run_experiment(exp)
    assert [r["status"] for r in summary.results] == ["ok", "ok"]
    files = sorted((tmp_path / "run" / "trials").rglob("result.json"))
    assert [f.parent.name for f in files] == ["seed-0", "seed-1"]
    result = json.loads(files[0].read_text())
    assert result["schema_version"] == 1
    assert result["metrics"]["test_accuracy"] > 0.5
    assert result["model"]["params_total"] == result["model"]["params_trainable"] > 0
    assert {"python", "torch", "fivefold"} <= set(result["environment"])
    assert (files[0].parent / "history.jsonl").is_file()
    assert (files[0].parent / "model.safetensors").is_file()
    accs = [r["metrics"]["test_accuracy"] for r in summary.results]
    card = json.loads((tmp_path / "run" / "scorecard.json").read_text())
    entry = card["recipes"]["baseline"]["metrics"]["test_accuracy"]
    assert entry["mean"] == pytest.approx(sum(accs) / 2)
    assert entry["n"] == 2


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    a = run_experiment(experiment(tmp_path / "a", seeds=[3])).results[0]
    b = run_experiment(experiment(tmp_path / "b", seeds=[3])).results[0]
    assert a["metrics"] == b["metrics"]


def test_rerun_skips_finished_and_reruns_failed(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    first = run_experiment(exp)
    assert first.skipped == 0
    again = run_experiment(exp)
    assert again.skipped == 2
    assert again.results == first.results
    path = tmp_path / "run" / "trials" / "baseline" / "seed-1" / "result.json"
    broken = json.loads(path.read_text()) | {"status": "failed", "error": {"message": "x"}}
    path.write_text(json.dumps(broken))
    resumed = run_experiment(exp)
    assert resumed.skipped == 1
    assert [r["status"] for r in read_results(tmp_path / "run")] == ["ok", "ok"]


def test_changed_config_reruns(tmp_path: Path) -> None:
    run_experiment(experiment(tmp_path))
    changed = run_experiment(experiment(tmp_path, train={"epochs": 1, "lr": 0.01}))
    assert changed.skipped == 0


def test_nan_trial_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    exp = experiment(tmp_path, train={"epochs": 2, "lr": 1e30, "grad_clip": None})
    summary = run_experiment(exp)
    assert all(r["status"] == "failed" for r in summary.results)
    assert "loss became" in summary.results[0]["error"]["message"]
    assert summary.scorecard["failed"][0]["trial"] == "baseline/seed-0"


@pytest.mark.slow
def test_process_pool_matches_local(tmp_path: Path) -> None:
    from fivefold.runner.run import run_experiment as run

    local = run(experiment(tmp_path / "local")).results
    pooled = run(experiment(tmp_path / "pool"), workers=2).results
    for a, b in zip(local, pooled, strict=True):
        assert a["metrics"]["test_accuracy"] == pytest.approx(
            b["metrics"]["test_accuracy"], abs=0.02
        )


def test_trial_scores_the_subject_adapt_subject_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []

    def ensemble(self: Technique, subject: Subject, task: object, ctx: FitContext) -> Subject:
        seen.append((self.name, ctx.seed))
        twin = copy.deepcopy(subject.model)
        with torch.no_grad():
            next(twin.parameters()).mul_(0.5)
        return Subject([subject.model, twin], eval_batch_size=subject.eval_batch_size)

    monkeypatch.setattr(Technique, "adapt_subject", ensemble)
    recipe = [{"technique": "augment", "image_ops": [], "mixup_alpha": 0.2}]
    pillars = {"generalization": {}, "safety": {"ood": "noise", "ood_max_samples": 50}}
    exp = experiment(
        tmp_path, seeds=[0], train={"epochs": 1}, recipes={"mix": recipe}, pillars=pillars
    )
    (result,) = run_experiment(exp).results
    assert result["status"] == "ok", result["error"]
    assert seen == [("augment", 0)]
    safety = result["pillars"]["safety"]
    assert "ood_auroc_msp" in safety["metrics"] and "ood_auroc_energy" not in safety["metrics"]
    assert any("energy OOD score skipped" in n for n in safety["notes"])
    test_accuracy = result["pillars"]["generalization"]["metrics"]["test_accuracy"]["value"]
    assert result["metrics"]["test_accuracy"] == test_accuracy


def test_refit_trials_are_planned_by_the_needs_refits_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pillars = {"data_efficiency": {"fractions": [0.5, 1.0], "max_epoch_scale": 1.5}}
    exp = experiment(tmp_path, seeds=[0], train={"epochs": 2}, pillars=pillars)
    assert [t.fraction for t in plan_trials(exp)] == [1.0, 0.5]
    assert _refit_training(exp, 0.5).epochs == 3  # min(2 / 0.5, 2 × 1.5)
    summary = run_experiment(exp)
    curve = summary.results[0]["pillars"]["data_efficiency"]["tables"]["learning_curve"]
    assert [row["fraction"] for row in curve] == [0.5, 1.0]
    monkeypatch.setattr(DataEfficiencyPillar, "needs_refits", False)
    assert [t.fraction for t in plan_trials(exp)] == [1.0]
    assert _refit_training(exp, 0.5).epochs == 2
