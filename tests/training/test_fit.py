"""The training loop: learns, is deterministic, stops early, honours hook order, fails clearly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import DataError, TrainingError
from fivefold.schema import build
from fivefold.training.checkpoint import load_weights
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, cross_entropy_step, fit
from fivefold.training.hooks import Batch, FitContext, FitResult, StepOutput, Technique


def blobs(n: int = 300, seed: int = 0) -> Task:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    x = centers[y] + 0.7 * torch.randn(n, 2, generator=g)
    parts = [slice(0, 200), slice(200, 250), slice(250, n)]
    splits = {k: Split(x[s], y[s]) for k, s in zip(("train", "val", "test"), parts, strict=True)}
    return Task("blobs", splits, {"x": ModalityInfo("tabular", (2,))}, ("a", "b", "c"))


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def cfg(**kw: Any) -> TrainConfig:
    return build(TrainConfig, {"epochs": 15, "batch_size": 32, "lr": 0.01, **kw}, "train")


def test_fit_learns_and_logs(tmp_path: Path) -> None:
    task = blobs()
    result = fit(tiny_model(), task, FitContext(cfg(), seed=0, workdir=tmp_path))
    logits = result.model(task.test.x)
    assert (logits.argmax(1) == task.test.y).float().mean() > 0.9
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(result.history)
    assert json.loads(lines[0])["epoch"] == 1
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    restored = load_weights(tiny_model(1), tmp_path / "model.safetensors")
    assert torch.equal(restored(task.test.x), logits)


def test_same_seed_same_weights() -> None:
    task = blobs()
    a = fit(tiny_model(), task, FitContext(cfg(epochs=3), seed=5)).model
    b = fit(tiny_model(), task, FitContext(cfg(epochs=3), seed=5)).model
    c = fit(tiny_model(), task, FitContext(cfg(epochs=3), seed=6)).model
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


def test_early_stopping_restores_best_epoch() -> None:
    task = blobs()
    result = fit(tiny_model(), task, FitContext(cfg(epochs=60, patience=2, lr=0.05), seed=0))
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert result.stopped_early == (len(result.history) < 60)
    assert len(result.history) - result.best_epoch <= 2
    with torch.no_grad():
        val_loss = F.cross_entropy(result.model.eval()(task.val.x), task.val.y)
    assert float(val_loss) == pytest.approx(min(losses), rel=1e-5)


def test_nan_loss_stops_with_clear_error() -> None:
    task = blobs()
    bad = task.with_splits(train=Split(task.train.x * float("nan"), task.train.y))
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 1"):
        fit(tiny_model(), bad, FitContext(cfg(), seed=0))


class Recorder(Technique):
    """Records the order in which hooks run."""

    log: list[str]

    def __init__(self, name: str, owns: bool = False) -> None:
        super().__init__(name, None)
        self.log = []
        self.owns = owns

    def wrap_fit(self, fit_fn: Any) -> Any:
        def wrapped(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            self.log.append(f"wrap:{self.name}")
            return fit_fn(model, task, ctx)

        return wrapped

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        self.log.append(f"model:{self.name}")
        return model

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        if ctx.step == 0:
            self.log.append(f"batch:{self.name}")
        return batch

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> StepOutput | None:
        if ctx.step == 0:
            self.log.append(f"loss:{self.name}")
        return cross_entropy_step(model, batch)


def test_hooks_run_in_documented_order() -> None:
    log: list[str] = []
    first, second = Recorder("first"), Recorder("second")
    first.log = second.log = log
    type(second).owns_loss = False
    techniques = [first, second]
    fit_fn = compose_fit(techniques, fit)
    fit_fn(tiny_model(), blobs(), FitContext(cfg(epochs=1), seed=0, techniques=techniques))
    assert log == [
        "wrap:first",
        "wrap:second",
        "model:first",
        "model:second",
        "batch:first",
        "batch:second",
    ]


def test_soft_targets_equal_hard_labels_when_one_hot() -> None:
    model = tiny_model()
    x, y = torch.randn(8, 2), torch.randint(0, 3, (8,))
    hard = cross_entropy_step(model, Batch(x, y)).loss
    soft = cross_entropy_step(model, Batch(x, y, F.one_hot(y, 3).float())).loss
    assert torch.allclose(hard, soft)


def test_corrupted_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="corrupted or not a checkpoint"):
        load_weights(tiny_model(), bad)
    with pytest.raises(DataError, match="not found"):
        load_weights(tiny_model(), tmp_path / "missing.safetensors")


def test_members_write_into_their_own_folders(tmp_path: Path) -> None:
    task = blobs()
    for k in range(2):
        ctx = FitContext(cfg(epochs=2), seed=k, workdir=tmp_path / "run", member=f"member-{k}")
        fit(tiny_model(k), task, ctx)
    members = sorted((tmp_path / "run").iterdir())
    assert [p.name for p in members] == ["member-0", "member-1"] and all(
        p.is_dir() for p in members
    )
    for folder in members:
        assert sorted(p.name for p in folder.iterdir()) == ["history.jsonl", "model.safetensors"]
        assert len((folder / "history.jsonl").read_text().splitlines()) == 2
    fit(tiny_model(), task, FitContext(cfg(epochs=2), seed=0, workdir=tmp_path / "plain"))
    files = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert files == ["history.jsonl", "model.safetensors"]  # member=None: today's layout


class Reporter(Technique):
    """Writes into the context the way techniques do: an extras entry and a layer-wise rate."""

    def __init__(self) -> None:
        super().__init__("reporter", None)

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        ctx.extras[self.name] = {"member": ctx.member}
        ctx.lr_scale["0.weight"] = 0.5
        return model


def test_for_member_shares_nothing_mutable(tmp_path: Path) -> None:
    parent = FitContext(
        cfg(),
        seed=3,
        techniques=[Reporter()],
        workdir=tmp_path,
        epoch=4,
        step=40,
        lr_scale={"2.weight": 0.1},
        extras={"other": {"loss": 1.0}},
        build_model=tiny_model,
    )
    member = parent.for_member("member-1", 7)
    assert (member.member, member.seed, member.epoch, member.step) == ("member-1", 7, 0, 0)
    assert member.files_dir == tmp_path / "member-1"
    assert member.extras == {} and member.lr_scale == parent.lr_scale
    assert list(member.techniques) == list(parent.techniques)
    assert member.train is parent.train and member.build_model is parent.build_model
    for name, value in vars(member).items():
        if isinstance(value, dict | list | set | torch.Generator):
            assert value is not getattr(parent, name), f"{name} is shared with the parent"
    other = parent.for_member("member-2", 7)
    assert torch.equal(member.generator.get_state(), other.generator.get_state())
    assert member.for_member("inner", 0).files_dir == tmp_path / "member-1" / "inner"
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(ValueError, match="plain folder name"):
            parent.for_member(bad, 0)


def test_member_fits_leave_the_parent_unchanged(tmp_path: Path) -> None:
    task = blobs()
    parent = FitContext(cfg(epochs=2), seed=0, techniques=[Reporter()], workdir=tmp_path)
    parent.build_model = tiny_model
    generator = parent.generator.get_state()
    results = [
        fit(parent.build_model(s), task, parent.for_member(f"member-{k}", s))
        for k, s in enumerate((10, 11))
    ]
    assert (parent.epoch, parent.step, parent.extras, parent.lr_scale) == (0, 0, {}, {})
    assert torch.equal(parent.generator.get_state(), generator)
    assert [r.extras for r in results] == [
        {"reporter": {"member": "member-0"}},
        {"reporter": {"member": "member-1"}},
    ]
    alone = fit(tiny_model(11), task, FitContext(cfg(epochs=2), 11, [Reporter()])).model
    assert all(  # a member trains as a plain fit with its seed would
        torch.equal(a, b)
        for a, b in zip(results[1].model.parameters(), alone.parameters(), strict=True)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["member-0", "member-1"]


def test_a_validation_split_too_small_to_select_on_keeps_the_last_epoch() -> None:
    """3 val rows (an ArrowHead-sized split): no early stopping, the last epoch's weights,
    exactly as training with selection switched off."""
    full = blobs()
    task = Task(
        "blobs",
        {**full.splits, "val": full.val.subset(torch.arange(3))},
        full.inputs,
        full.class_names,
    )
    small = fit(tiny_model(), task, FitContext(cfg(epochs=6, patience=1), seed=0))
    assert len(small.history) == 6 and not small.stopped_early and small.best_epoch == 6
    plain = fit(
        tiny_model(),
        task,
        FitContext(cfg(epochs=6, patience=None, restore_best=False), seed=0),
    )
    for a, b in zip(small.model.parameters(), plain.model.parameters(), strict=True):
        assert torch.equal(a, b)
    selected = fit(tiny_model(), task, FitContext(cfg(epochs=6, min_val_rows=0), seed=0))
    assert selected.best_epoch <= 6


def test_validation_note_says_why_and_how_to_change_it() -> None:
    from fivefold.training.fit import validation_note

    note = validation_note(cfg(), 3)
    assert note is not None and note.startswith("small validation split: it holds 3 rows")
    assert "fewer than train.min_val_rows = 30" in note
    assert "data.val_fraction" in note and "min_val_rows = 0" in note
    assert validation_note(cfg(), 30) is None
    assert validation_note(cfg(patience=None, restore_best=False), 3) is None


@pytest.mark.parametrize(
    ("rows", "epochs", "patience"),
    [(36, 1000, 200), (1295, 48, 10), (60_000, 30, 10), (0, 1000, 200)],
)
def test_auto_epochs_give_small_data_enough_steps(rows: int, epochs: int, patience: int) -> None:
    auto = build(TrainConfig, {}, "train").resolved(rows)
    assert (auto.epochs, auto.patience) == (epochs, patience)
    steps = math.ceil(max(rows, 1) / auto.batch_size) * auto.max_epochs
    assert steps >= 1000 or auto.max_epochs == 1000


def test_explicit_epochs_and_patience_are_kept() -> None:
    given = build(TrainConfig, {"epochs": 5, "patience": 2}, "train").resolved(36)
    assert (given.max_epochs, given.patience_epochs) == (5, 2)
    never = build(TrainConfig, {"patience": None}, "train").resolved(36)
    assert never.patience_epochs is None
    with pytest.raises(ValueError, match="call resolved"):
        _ = build(TrainConfig, {}, "train").max_epochs
