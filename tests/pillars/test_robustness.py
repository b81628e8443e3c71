"""The robustness pillar: registered, configurable, deterministic, JSON-ready, runs on every
modality, and warns when gradients are masked."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.data.text import WordVocab
from fivefold.errors import ConfigError
from fivefold.pillars.base import PILLARS, Subject
from fivefold.pillars.robustness.evaluate import sanity_notes
from fivefold.pillars.robustness.pillar import RobustnessPillar

SMALL: dict[str, Any] = {
    "severities": [1, 3, 5],
    "eps_linf": [0.05, 0.2],
    "eps_l2": [1.0],
    "max_attack_samples": 120,
    "max_corruption_samples": 200,
}


def evaluate(subject: Subject, task: Task, seed: int = 0, **options: Any) -> dict[str, Any]:
    (spec,) = PILLARS.specs({"robustness": options})
    return spec.instantiate().evaluate(subject, task, seed).to_json()


def _splits(x: Any, y: torch.Tensor, texts: tuple[str, ...] | None = None) -> dict[str, Split]:
    return {name: Split(x, y, texts=texts) for name in ("train", "val", "test")}


@pytest.fixture(scope="module")
def digits(
    trained_digits_cnn: tuple[nn.Module, torch.Tensor, torch.Tensor],
) -> tuple[Subject, Task]:
    """A small CNN trained for about a second on scikit-learn digits in [0, 1]."""
    model, x_test, y_test = trained_digits_cnn
    info = {"x": ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))}
    task = Task("digits", _splits(x_test, y_test), info, tuple("0123456789"))
    return Subject(model.eval()), task


def test_registered_with_validated_options() -> None:
    assert PILLARS.get("robustness") is RobustnessPillar
    (spec,) = PILLARS.specs(["robustness"])
    assert spec.config.eps_linf == (0.05, 0.1, 0.2, 0.3) and spec.config.corruptions is None
    with pytest.raises(ConfigError, match=r"pillars\.robustness\.pgd_stepz.*did you mean"):
        PILLARS.specs({"robustness": {"pgd_stepz": 3}})
    with pytest.raises(ConfigError, match=r"pillars\.robustness\.severities.*out of range"):
        PILLARS.specs({"robustness": {"severities": [0, 6]}})


def test_unknown_corruption_names_the_allowed_ones(digits: tuple[Subject, Task]) -> None:
    with pytest.raises(ConfigError, match=r"corruptions: 'time_warp' .*allowed: gaussian_noise"):
        evaluate(*digits, corruptions=["time_warp"])


def test_digits_result_is_complete_deterministic_and_json(digits: tuple[Subject, Task]) -> None:
    result = evaluate(*digits, **SMALL)
    assert result == evaluate(*digits, **SMALL)
    json.dumps(result)
    metrics = {k: v["value"] for k, v in result["metrics"].items()}
    assert result["headline"] == "mean_corruption_accuracy"
    assert all(v["higher_is_better"] for v in result["metrics"].values())
    assert metrics["clean_accuracy"] > 0.9
    assert metrics["mean_corruption_accuracy"] < metrics["clean_accuracy"]
    for name in ("pgd_linf", "fgsm", "apgd_ce", "apgd_dlr", "autoattack"):
        assert metrics[f"{name}_accuracy@0.2"] <= metrics[f"{name}_accuracy@0.05"] + 0.01
        assert metrics["autoattack_accuracy@0.2"] <= metrics[f"{name}_accuracy@0.2"]
    assert metrics["autoattack_l2_accuracy@1"] <= metrics["pgd_l2_accuracy@1"]
    assert len(result["tables"]["corruptions"]) == 9 * 3
    assert [r["eps"] for r in result["tables"]["adversarial"]] == [0.05, 0.2, 1.0]
    assert result["notes"] == []
    assert evaluate(*digits, seed=1, **SMALL)["metrics"] != result["metrics"]


def test_headline_falls_back_when_parts_are_skipped(digits: tuple[Subject, Task]) -> None:
    options = {**SMALL, "corruptions": [], "eps_l2": [], "autoattack": False}
    assert evaluate(*digits, **options)["headline"] == "mean_autoattack_accuracy"
    none = evaluate(*digits, corruptions=[], eps_linf=[], eps_l2=[], large_eps=0)
    assert none["headline"] == "clean_accuracy" and none["tables"]["adversarial"] == []


class RoundedInput(nn.Module):
    """Rounds its input first: zero gradients everywhere (masked gradients)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x.round())
        return out


def test_masked_gradients_give_a_note(digits: tuple[Subject, Task]) -> None:
    subject, task = digits
    masked = Subject(RoundedInput(subject.model))
    options: dict[str, Any] = {
        "corruptions": [],
        "eps_linf": [0.1],
        "eps_l2": [],
        "autoattack": False,
    }
    result = evaluate(masked, task, random_start=False, **options)
    assert any("gradient-masking" in n and "eps=1" in n for n in result["notes"])


def test_sanity_checks_flag_rising_above_clean_and_large_eps() -> None:
    row = {"norm": "linf", "clean": 0.9}
    rows = [{**row, "eps": 0.1, "pgd": 0.5}, {**row, "eps": 0.2, "pgd": 0.95}]
    notes = sanity_notes(rows, {**row, "eps": 1.0, "pgd": 0.4})
    assert len(notes) == 3
    assert "rises with eps" in notes[0] and "exceeds clean" in notes[1] and "eps=1" in notes[2]
    healthy = [{**row, "eps": 0.1, "pgd": 0.5}, {**row, "eps": 0.2, "pgd": 0.505}]
    assert sanity_notes(healthy, {**row, "eps": 1.0, "pgd": 0.0}) == []


def test_tabular_with_one_hot_groups() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    numeric = torch.randn(200, 3, generator=gen) + y[:, None].float()
    x = torch.cat([numeric, nn.functional.one_hot(y, 2).float()], dim=1)
    info = {"x": ModalityInfo("tabular", (5,), categorical=((3, 4),))}
    task = Task("tab", _splits(x, y), info, ("a", "b"))
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, -1.0, -1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0]]))
    result = evaluate(Subject(model), task, severities=[2], eps_linf=[0.1, 0.5], eps_l2=[])
    names = {r["corruption"] for r in result["tables"]["corruptions"]}
    assert names == {"gaussian_noise", "category_flip", "missing_values"}
    assert "apgd_dlr" not in result["tables"]["adversarial"][0]  # DLR needs 3 classes
    notes = " ".join(result["notes"])
    assert "APGD-DLR needs 3" in notes and "one-hot columns stay exact" in notes
    assert "gradient-masking" not in notes  # a linear model is fully fooled at eps=10
    quiet = evaluate(Subject(model), task, severities=[2], eps_linf=[], eps_l2=[])
    assert not any("APGD" in n or "one-hot" in n for n in quiet["notes"])  # no attack, no caveat


def test_multi_input_sequences() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = {k: torch.randn(60, 2, 20, generator=gen) + y[:, None, None] for k in ("acc", "gyro")}
    info = {k: ModalityInfo("sequence", (2, 20)) for k in x}

    class Mean(nn.Module):
        def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            level = (inputs["acc"].mean(dim=(1, 2)) + inputs["gyro"].mean(dim=(1, 2))) / 2
            return -((level[:, None] - torch.arange(3.0)) ** 2) * 4

    task = Task("motion", _splits(x, y), info, ("a", "b", "c"))
    result = evaluate(Subject(Mean()), task, severities=[1, 5], eps_linf=[0.1, 1.0], eps_l2=[])
    rows = result["tables"]["corruptions"]
    assert {r["corruption"] for r in rows} == {
        "gaussian_noise",
        "scaling",
        "time_warp",
        "masking",
        "baseline_drift",
    }
    adversarial = result["tables"]["adversarial"]
    assert adversarial[1]["worst_case"] < adversarial[0]["worst_case"] <= adversarial[0]["clean"]


def test_text_gets_text_corruptions_and_the_edit_attack() -> None:
    texts = ("a good movie with a fine plot", "a bad movie with a thin plot") * 10
    vocab = WordVocab.fit(texts, min_count=1)
    y = torch.tensor([1, 0] * 10)
    task = Task(
        "t",
        _splits(vocab(texts), y, texts),
        {"x": vocab.info()},
        ("neg", "pos"),
        text_encoder=vocab,
    )

    class Keyword(nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            good = (ids == vocab.index["good"]).sum(1).float()
            return torch.stack([torch.full_like(good, 0.5), good], dim=1)

    result = evaluate(Subject(Keyword()), task, severities=[5])
    metrics = {k: v["value"] for k, v in result["metrics"].items()}
    assert {r["corruption"] for r in result["tables"]["corruptions"]} == {
        "char_typo",
        "word_deletion",
        "word_swap",
    }
    assert metrics["clean_accuracy"] == 1.0 and metrics["corruption_accuracy@word_swap"] == 1.0
    assert metrics["text_attack_accuracy@3"] <= metrics["text_attack_accuracy@1"] < 1.0
    assert result["tables"]["adversarial"] == []
    bare = Task("t", _splits(vocab(texts), y), {"x": vocab.info()}, ("neg", "pos"))
    skipped = evaluate(Subject(Keyword()), bare, severities=[5])
    assert "without raw texts" in skipped["notes"][0] and skipped["headline"] == "clean_accuracy"
