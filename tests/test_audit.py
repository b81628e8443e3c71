"""``fivefold audit``: scores a user's model from a factory + safetensors weights."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from support import tiny_task
from torch import nn

from fivefold import audit
from fivefold.cli import main
from fivefold.training.hooks import FitContext, Technique, compose_subject
from fivefold.training.subject import Subject

FACTORY = """
from torch import nn

def make_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

def make_wrong():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

def not_a_model():
    return 42

def make_bn_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.Linear(16, 10))
"""


@pytest.fixture
def user_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "usernets.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("usernets", None)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    weights = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    return weights


def test_audit_writes_result_and_scorecard(
    user_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit"
    code = main(
        [
            "audit",
            "--model",
            "usernets:make_net",
            "--weights",
            str(user_model),
            "--data",
            "digits",
            "--pillars",
            "generalization",
            "safety",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "trials" / "audit" / "result.json").read_text())
    assert set(result["pillars"]) == {"generalization", "safety"}
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    net.load_state_dict(
        {k: v for k, v in __import__("safetensors.torch").torch.load_file(str(user_model)).items()}
    )
    assert result["model"]["params_total"] == sum(p.numel() for p in net.parameters())
    assert (out / "scorecard.json").is_file()
    assert "test_accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("usernets:make_wrong", "expected (batch, 10) logits"),
        ("usernets:not_a_model", "not an nn.Module"),
        ("usernets:missing", "has no callable 'missing'"),
        ("no_such_module_x:f", "cannot import"),
        ("usernets", "expected package.module:factory"),
    ],
)
def test_bad_models_are_one_line_errors(
    user_model: Path, factory: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = user_model
    if factory == "usernets:make_wrong":
        torch.manual_seed(0)
        wrong = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
        weights = user_model.with_name("wrong.safetensors")
        save_file({k: v.contiguous() for k, v in wrong.state_dict().items()}, str(weights))
    code = main(["audit", "--model", factory, "--weights", str(weights), "--data", "digits"])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_corrupted_weights_and_data_efficiency_rejected(
    user_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = user_model.with_name("bad.safetensors")
    bad.write_bytes(b"\x00garbage")
    code = main(
        ["audit", "--model", "usernets:make_net", "--weights", str(bad), "--data", "digits"]
    )
    assert code == 2
    assert "corrupted or not a checkpoint" in capsys.readouterr().err
    code = main(
        [
            "audit",
            "--model",
            "usernets:make_net",
            "--weights",
            str(user_model),
            "--data",
            "digits",
            "--pillars",
            "data_efficiency",
        ]
    )
    assert code == 2
    assert "cannot score an existing model" in capsys.readouterr().err


def test_audit_composes_the_subject_like_a_trial(
    user_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    composed: list[int] = []

    def spy(techniques: Any, subject: Subject, task: Any, ctx: FitContext) -> Subject:
        composed.append(len(techniques))
        return compose_subject(techniques, subject, task, ctx)

    monkeypatch.setattr(audit, "compose_subject", spy)
    args = ["--model", "usernets:make_net", "--weights", str(user_model), "--data", "digits"]
    code = main(["audit", *args, "--pillars", "generalization", "--out", str(tmp_path / "a")])
    assert code == 0 and composed == [0]  # no recipe yet: the identity, but composed
    twin = Subject([nn.Linear(2, 3), nn.Linear(2, 3)])
    technique = Technique("ensemble", None)
    monkeypatch.setattr(technique, "adapt_subject", lambda subject, task, ctx: twin)
    model = nn.Linear(2, 3)
    assert audit.audit_subject(model, tiny_task("tabular"), 0, [technique]) is twin
    assert audit.audit_subject(model, tiny_task("tabular"), 0).model is model


def test_audit_scores_an_ensemble_checkpoint_as_the_ensemble(
    user_model: Path, tmp_path: Path
) -> None:
    from fivefold.pillars import metrics as M
    from fivefold.training.checkpoint import save_members
    from fivefold.training.combiners import MeanCombiner

    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        members.append(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    weights = tmp_path / "ensemble.safetensors"
    save_members(members, weights, MeanCombiner())
    out = tmp_path / "audit"
    argv = ["audit", "--model", "usernets:make_net", "--weights", str(weights)]
    code = main([*argv, "--data", "digits", "--pillars", "safety", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "trials" / "audit" / "result.json").read_text())
    assert result["model"]["members"] == 3 and result["model"]["combiner"] == "mean"
    assert result["model"]["params_per_member"] == [650, 650, 650]
    assert result["members"]["members"] == 3
    # the ensemble's test accuracy is that of the members' mean probability
    from fivefold.data import load_task

    task = load_task(audit.data_config_for("digits", {}))
    with torch.no_grad():
        prob = torch.stack([torch.softmax(m(task.test.x), 1) for m in members]).mean(0)
    want = M.accuracy(task.test.y.numpy(), prob.double().numpy())
    assert result["metrics"]["test_accuracy"] == pytest.approx(want, abs=1e-5)
    assert "ood_auroc_mi" in result["pillars"]["safety"]["metrics"]


def test_audit_names_a_damaged_ensemble_checkpoint(
    user_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fivefold.training.checkpoint import save_members
    from fivefold.training.combiners import MeanCombiner

    weights = tmp_path / "ensemble.safetensors"
    save_members([nn.Sequential(nn.Flatten(), nn.Linear(64, 3))] * 2, weights, MeanCombiner())
    argv = ["audit", "--model", "usernets:make_net", "--weights", str(weights), "--data"]
    assert main([*argv, "digits", "--out", str(tmp_path / "a")]) != 0
    err = capsys.readouterr().err.strip()
    assert "member 0 does not match the model" in err and len(err.splitlines()) == 1


def test_audit_with_test_time_adaptation(
    user_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.Linear(16, 10))
    weights = tmp_path / "bn.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    out = tmp_path / "a"
    args = ["--model", "usernets:make_bn_net", "--weights", str(weights), "--data", "digits"]
    code = main(["audit", *args, "--pillars", "generalization", "--adapt", "bn", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "trials" / "audit" / "result.json").read_text())
    metrics = result["pillars"]["generalization"]["metrics"]
    assert "test_accuracy_unadapted" in metrics and result["config"]["adapt"] == "bn"
    # a model without normalisation layers is refused in one line, naming the fix
    plain = ["--model", "usernets:make_net", "--weights", str(user_model), "--data", "digits"]
    code = main(["audit", *plain, "--adapt", "tent", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "--adapt tent" in err and "model.norm" in err


def _digits_csv_with_reversed_names(path: Path) -> tuple[Path, nn.Module]:
    """Digits as a CSV whose label names sort in reverse of the ids a model was trained on
    (id k is written "c{9-k}"), and that model (trained here on every row)."""
    import pandas as pd
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(64)])
    frame["label"] = [f"c{9 - k}" for k in y]
    frame.to_csv(path, index=False)
    xt = torch.tensor((x - x.mean(0)) / np.where(x.std(0, ddof=1) > 0, x.std(0, ddof=1), 1.0))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt.float()), torch.tensor(y)).backward()
        opt.step()
    return path, net


def test_audit_of_a_file_names_rows_class_order_and_a_label_mismatch(
    user_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, net = _digits_csv_with_reversed_names(tmp_path / "digits.csv")
    weights = tmp_path / "trained.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    argv = ["audit", "--model", "usernets:make_net", "--weights", str(weights)]
    argv += ["--data", str(csv), "--pillars", "generalization"]
    out = tmp_path / "a"
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "scored all 1797 rows of" in printed  # the file as given, never split again
    assert "class order: 0 = c0, 1 = c1" in printed and "(sorted; --classes sets it)" in printed
    order = ",".join(f"c{9 - k}" for k in range(10))
    assert "! far below chance" in printed and f"--classes to {order}" in printed
    result = json.loads((out / "trials" / "audit" / "result.json").read_text())
    assert result["metrics"]["test_accuracy"] < 0.1
    assert "train_accuracy" not in result["metrics"]  # the same rows as test: not repeated
    assert result["evaluation"]["n_rows"] == 1797
    fixed = tmp_path / "b"
    assert main([*argv, "--out", str(fixed), "--classes", order]) == 0
    printed = capsys.readouterr().out
    assert "(as given by --classes)" in printed and "far below chance" not in printed
    good = json.loads((fixed / "trials" / "audit" / "result.json").read_text())
    assert good["metrics"]["test_accuracy"] > 0.9
    assert good["metrics"]["test_accuracy"] == pytest.approx(
        result["checks"]["relabelled_accuracy"], abs=1e-9
    )
    assert main(["report", str(fixed)]) == 0  # an audit's folder gets the report of a run
    summary = (fixed / "summary.md").read_text()
    assert "scored rows" in summary and "classes (id order)" in summary
