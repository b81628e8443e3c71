"""Missing- and noisy-modality slices of the robustness pillar, checked against naive
re-computations with numpy and against models built by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.task import Inputs, ModalityInfo, Split, Task
from fivefold.data.text import WordVocab
from fivefold.errors import ConfigError
from fivefold.pillars import PILLARS, Subject
from fivefold.pillars.robustness.modality import (
    ModalitySettings,
    channel_std,
    mean_input,
    modality_metrics,
    modality_rows,
    noisy_input,
    token_weights,
)

N_TRAIN, N_TEST = 64, 200
QUICK = {"corruptions": [], "eps_linf": [], "eps_l2": [], "large_eps": 0.0, "text_budget": 0}
CATEGORICAL = ((3, 4),)


def _two_input_task(seed: int = 0) -> Task:
    """Input "a": tabular (5,) = 3 numbers + one two-way one-hot; input "b": sequence (2, 6)
    in [0, 1]. The label is the sign of a[0] - a[1] (the model below reads only "a")."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        a = torch.randn(n, 5, generator=g) * torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0])
        a[:, 3:] = nn.functional.one_hot(torch.randint(0, 2, (n,), generator=g), 2).float()
        b = torch.rand(n, 2, 6, generator=g)
        y = (a[:, 0] - a[:, 1] + 0.3 * torch.randn(n, generator=g) > 0.4).long()
        return Split({"a": a, "b": b}, y)

    inputs = {
        "a": ModalityInfo("tabular", (5,), categorical=CATEGORICAL),
        "b": ModalityInfo("sequence", (2, 6), bounds=(0.0, 1.0)),
    }
    splits = {"train": split(N_TRAIN), "val": split(16), "test": split(N_TEST)}
    return Task("two", splits, inputs, ("lo", "hi"))


class ReadsA(nn.Module):
    """Logits ``a @ W.T + c``: depends on input "a" only."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.tensor([[-1.0, 1.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.2, 0.0, 0.0]])
        self.bias = torch.tensor([0.3, -0.1])  # argmax of the bias: class 0

    def forward(self, x: Inputs) -> torch.Tensor:
        assert isinstance(x, dict)
        return x["a"] @ self.weight.T + self.bias


def _naive_accuracy(a: np.ndarray, y: np.ndarray) -> float:
    model = ReadsA()
    logits = a @ model.weight.numpy().T + model.bias.numpy()
    return float(np.mean(logits.argmax(axis=1) == y))


def _rows(task: Task, model: nn.Module, seed: int = 0, **settings: tuple[float, ...]) -> list:
    subject = Subject(model)
    test = task.test
    clean = float((subject.predict(test.x) == test.y).float().mean())
    rows, _ = modality_rows(
        subject, test, task, ModalitySettings(**settings), clean=clean, seed=seed
    )
    return rows


def _row(rows: list, key: str, kind: str, level: float | None = None) -> dict:
    (row,) = [r for r in rows if r["input"] == key and r["kind"] == kind and r["level"] == level]
    return row


def test_zeroing_an_unused_input_changes_nothing_and_zeroing_the_used_one_is_naive() -> None:
    task = _two_input_task()
    rows = _rows(task, ReadsA())
    test = task.test
    assert isinstance(test.x, dict)
    clean = _naive_accuracy(test.x["a"].numpy(), test.y.numpy())
    assert 0.7 < clean < 1.0
    for kind, level in (("zero", None), ("mean", None), ("noise", 0.5), ("noise", 1.0)):
        row = _row(rows, "b", kind, level)
        assert row["accuracy"] == pytest.approx(clean) and row["drop"] == pytest.approx(0.0)
    zeroed = _row(rows, "a", "zero")
    expected = _naive_accuracy(np.zeros((N_TEST, 5), np.float32), test.y.numpy())
    assert expected == pytest.approx(float(np.mean(test.y.numpy() == 0)))  # bias picks class 0
    assert zeroed["accuracy"] == pytest.approx(expected)
    assert zeroed["drop"] == pytest.approx(clean - expected)


def test_mean_replacement_is_the_numpy_training_mean() -> None:
    task = _two_input_task()
    train, test = task.train.x, task.test.x
    assert isinstance(train, dict) and isinstance(test, dict)
    for key in ("a", "b"):
        naive = np.broadcast_to(train[key].numpy().mean(axis=0), test[key].shape)
        assert np.allclose(mean_input(test[key], train[key]).numpy(), naive, atol=1e-6)
    filled = np.broadcast_to(train["a"].numpy().mean(axis=0), (N_TEST, 5))
    row = _row(_rows(task, ReadsA()), "a", "mean")
    assert row["accuracy"] == pytest.approx(_naive_accuracy(filled, task.test.y.numpy()))


def test_noise_has_the_training_std_per_channel_keeps_one_hot_and_bounds() -> None:
    g = torch.Generator().manual_seed(1)
    train = torch.randn(4000, 5, generator=g) * torch.tensor([1.0, 3.0, 0.2, 1.0, 1.0])
    x = torch.zeros(4000, 5)
    info = ModalityInfo("tabular", (5,), categorical=CATEGORICAL)
    noisy = noisy_input(x, train, info, 0.5, torch.Generator().manual_seed(2))
    naive_std = train.numpy().std(axis=0)
    assert np.allclose(channel_std(train).numpy().ravel(), naive_std, rtol=1e-5)
    measured = noisy.numpy()[:, :3].std(axis=0)
    assert np.allclose(measured, 0.5 * naive_std[:3], rtol=0.06)
    assert torch.equal(noisy[:, 3:], x[:, 3:])  # one-hot columns stay exact
    seq = torch.rand(50, 2, 6, generator=g)
    bounded = noisy_input(seq, seq, ModalityInfo("sequence", (2, 6), bounds=(0.0, 1.0)), 3.0, g)
    assert float(bounded.min()) >= 0.0 and float(bounded.max()) <= 1.0
    assert not torch.equal(bounded, seq)


def test_noise_is_reproducible_under_the_same_seed() -> None:
    task, model = _two_input_task(), ReadsA()
    assert _rows(task, model, seed=5) == _rows(task, model, seed=5)
    x, train = task.test.x, task.train.x
    assert isinstance(x, dict) and isinstance(train, dict)
    info = task.inputs["a"]
    one = noisy_input(x["a"], train["a"], info, 1.0, torch.Generator().manual_seed(3))
    two = noisy_input(x["a"], train["a"], info, 1.0, torch.Generator().manual_seed(3))
    other = noisy_input(x["a"], train["a"], info, 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(one, two) and not torch.equal(one, other)


def _text_tabular_task() -> tuple[Task, WordVocab]:
    texts = [f"good film {i}" if i % 2 else f"bad plot {i} and more" for i in range(40)]
    texts[3] = ""  # a missing text: all padding
    vocab = WordVocab.fit(texts, min_count=1, max_len=8)
    ids = vocab(texts)
    y = torch.arange(40) % 2
    tab = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    split = Split({"text": ids, "tab": tab}, y, texts=tuple(texts))
    inputs = {"text": vocab.info(), "tab": ModalityInfo("tabular", (3,))}
    splits = {"train": split, "val": split, "test": split}
    return Task("mixed", splits, inputs, ("neg", "pos"), text_encoder=vocab), vocab


class Recorder(nn.Module):
    """Logits from the number of real tokens; records every text input it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: Inputs) -> torch.Tensor:
        assert isinstance(x, dict)
        self.seen.append(x["text"].clone())
        real = (x["text"] != 0).sum(dim=1, keepdim=True).float()
        return torch.cat([real - 3.5, x["tab"][:, :1]], dim=1)


def test_text_zeroing_gives_padding_and_text_noise_edits_only_real_tokens() -> None:
    task, vocab = _text_tabular_task()
    model = Recorder()
    subject = Subject(model)
    test = task.test
    assert isinstance(test.x, dict)
    ids = test.x["text"]
    rows, notes = modality_rows(
        subject, test, task, ModalitySettings((0.5,), (1.0,)), clean=1.0, seed=0
    )
    assert [(r["input"], r["kind"], r["level"]) for r in rows] == [
        ("text", "zero", None),
        ("text", "noise", 1.0),
        ("tab", "zero", None),
        ("tab", "mean", None),
        ("tab", "noise", 0.5),
    ]
    assert len(notes) == 1 and "mean replacement" in notes[0] and "'text'" in notes[0]
    texts_seen = [t for t in model.seen if not torch.equal(t, ids)]
    zeroed, edited = texts_seen
    assert zeroed.dtype == torch.int64 and torch.equal(zeroed, torch.zeros_like(ids))
    assert torch.equal(edited == 0, ids == 0)  # padding stays padding, real tokens stay real
    assert float((edited != ids)[ids != 0].float().mean()) > 0.5  # rate 1: most tokens changed
    protected, weights = token_weights(ids, vocab.vocab_size, vocab)
    assert protected.tolist() == [True] + [False] * (vocab.vocab_size - 1)
    counts = torch.bincount(ids.flatten(), minlength=vocab.vocab_size).double()
    counts[0] = 0.0
    assert torch.equal(weights, counts)
    # no real token left: logit 0 is -3.5, so class 1 wins wherever tab[:, 0] > -3.5
    pred = (test.x["tab"][:, 0] > -3.5).long()
    assert rows[0]["accuracy"] == pytest.approx(float((pred == test.y).float().mean()))


def test_metrics_name_every_slice_and_the_worst_missing_input() -> None:
    rows = _rows(_two_input_task(), ReadsA())
    m = modality_metrics(rows)
    zero = {r["input"]: r["accuracy"] for r in rows if r["kind"] == "zero"}
    assert m["missing_a_accuracy"] == zero["a"] and m["missing_b_accuracy"] == zero["b"]
    assert m["worst_missing_modality_accuracy"] == min(zero.values())
    assert m["mean_missing_modality_accuracy"] == pytest.approx(sum(zero.values()) / 2)
    assert {"mean_filled_a_accuracy", "noisy_a_accuracy@0.5", "noisy_b_accuracy@1"} <= set(m)
    assert modality_metrics([]) == {}


def _pillar(task: Task, model: nn.Module, **options: object) -> dict:
    (spec,) = PILLARS.specs({"robustness": {**QUICK, **options}})
    result: dict = spec.instantiate().evaluate(Subject(model), task, 0).to_json()
    return result


def test_pillar_reports_the_slices_for_several_inputs_only() -> None:
    task = _two_input_task()
    result = _pillar(task, ReadsA())
    rows = result["tables"]["modalities"]
    assert rows == _rows(task, ReadsA())  # the whole test split (under the sample cap)
    assert result["metrics"]["worst_missing_modality_accuracy"]["higher_is_better"] is True
    assert result["metrics"]["clean_accuracy"]["value"] == pytest.approx(
        _naive_accuracy(task.test.x["a"].numpy(), task.test.y.numpy())
    )
    off = _pillar(task, ReadsA(), modalities=False)
    assert "modalities" not in off["tables"]
    assert not any("modality" in k for k in off["metrics"])
    single = tiny_task("tabular")
    torch.manual_seed(0)
    plain = _pillar(single, nn.Linear(7, 3))
    assert "modalities" not in plain["tables"]
    assert not any("modalit" in note for note in plain["notes"])


@pytest.mark.parametrize(
    ("option", "value"), [("modality_noise", [0.0]), ("modality_edit_rates", [1.5])]
)
def test_out_of_range_levels_are_config_errors(option: str, value: list[float]) -> None:
    with pytest.raises(ConfigError, match=f"pillars.robustness.{option}: .* out of range"):
        PILLARS.specs({"robustness": {option: value}})
