"""Gradient and text attacks: eps-balls, bounds and masks respected, monotone in eps, and in
agreement with torchattacks (PGD within 2 points, APGD within 3) on a trained digits CNN."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchattacks
from torch import nn

from fivefold.attacks.apgd import apgd, dlr_loss
from fivefold.attacks.gradient import attack_boxes, fgsm, pgd
from fivefold.attacks.text import text_edit_attack
from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.data.text import WordVocab
from fivefold.pillars.robustness.evaluate import AttackSettings, adversarial_rows

IMAGE = {"x": ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))}
BOXES = attack_boxes(IMAGE)
Digits = tuple[nn.Module, torch.Tensor, torch.Tensor]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits(trained_digits_cnn: Digits) -> Digits:
    """A small CNN trained for about a second on scikit-learn digits in [0, 1]; 397 test."""
    return trained_digits_cnn


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_pgd_linf_stays_in_the_ball_and_the_bounds(digits: Digits, eps: float) -> None:
    model, x, y = digits
    out = pgd(model, x, y, eps, BOXES, gen=_gen())
    assert isinstance(out.x, torch.Tensor)
    assert (out.x - x).abs().max() <= eps + 1e-6
    assert out.x.min() >= 0 and out.x.max() <= 1
    # The flags are honest: fooled samples are misclassified at the returned point, others not.
    with torch.no_grad():
        torch.testing.assert_close(model(out.x).argmax(1) == y, out.correct)


@pytest.mark.parametrize("attack", ["pgd", "apgd"])
def test_l2_attacks_stay_in_the_ball(digits: Digits, attack: str) -> None:
    model, x, y = digits
    run = pgd if attack == "pgd" else apgd
    out = run(model, x, y, 1.0, BOXES, norm="l2", gen=_gen())
    assert isinstance(out.x, torch.Tensor)
    assert (out.x - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-5
    assert out.x.min() >= 0 and out.x.max() <= 1
    with torch.no_grad():
        torch.testing.assert_close(model(out.x).argmax(1) == y, out.correct)


def test_eps_is_in_units_of_the_input_range(digits: Digits) -> None:
    """The same attack on inputs rescaled to [-1, 3] moves 4x as far with the same outcome."""
    model, x, y = digits

    class Rescaled(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = model((z + 1) / 4)
            return out

    wide = attack_boxes({"x": ModalityInfo("image", (1, 8, 8), bounds=(-1.0, 3.0))})
    unit = pgd(model, x, y, 0.1, BOXES, gen=_gen())
    scaled = pgd(Rescaled(), x * 4 - 1, y, 0.1, wide, gen=_gen())
    assert isinstance(scaled.x, torch.Tensor)
    assert (scaled.x - (x * 4 - 1)).abs().max() <= 0.4 + 1e-5
    assert (unit.correct != scaled.correct).float().mean() <= 0.01


def test_unbounded_inputs_are_not_clamped_and_one_hot_columns_never_move() -> None:
    info = {"x": ModalityInfo("tabular", (4,), categorical=((2, 3),))}
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    x = torch.cat([torch.rand(50, 2) * 2 - 1, nn.functional.one_hot(torch.arange(50) % 2, 2)], 1)
    y = torch.arange(50) % 2
    for norm in ("linf", "l2"):
        out = pgd(model, x, y, 5.0, attack_boxes(info), norm=norm, gen=_gen())
        assert isinstance(out.x, torch.Tensor)
        torch.testing.assert_close(out.x[:, 2:], x[:, 2:])
        assert out.x[:, :2].abs().max() > 1.5  # left the data range: no clamping
        assert (out.x - x).abs().max() <= 5.0 + 1e-5


def test_multi_input_tasks_are_perturbed_jointly(digits: Digits) -> None:
    model, x, y = digits

    class Halves(nn.Module):
        def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            out: torch.Tensor = model(torch.cat([inputs["top"], inputs["bottom"]], dim=2))
            return out

    infos = {k: ModalityInfo("image", (1, 4, 8), bounds=(0.0, 1.0)) for k in ("top", "bottom")}
    pair = {"top": x[:, :, :4], "bottom": x[:, :, 4:]}
    out = pgd(Halves(), pair, y, 0.1, attack_boxes(infos), gen=_gen())
    single = pgd(model, x, y, 0.1, BOXES, gen=_gen())
    assert isinstance(out.x, dict)
    for k, v in out.x.items():
        assert (v - pair[k]).abs().max() <= 0.1 + 1e-6 and not torch.equal(v, pair[k])
    assert abs(out.correct.float().mean() - single.correct.float().mean()) <= 0.03


def test_fgsm_is_one_signed_gradient_step(digits: Digits) -> None:
    model, x, y = digits
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(leaf), y), leaf)
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    out = fgsm(model, x, y, 0.1, BOXES)
    assert isinstance(out.x, torch.Tensor)
    torch.testing.assert_close(out.x, expected)
    with torch.no_grad():
        torch.testing.assert_close(out.correct, model(expected).argmax(1) == y)


def test_attacks_restore_train_mode_and_parameter_grads(digits: Digits) -> None:
    model, x, y = digits
    model.zero_grad(set_to_none=True)
    model.train()
    try:
        apgd(model, x[:20], y[:20], 0.1, BOXES, steps=3)
        pgd(model, x[:20], y[:20], 0.1, BOXES, steps=2)
        assert model.training
        assert all(p.requires_grad and p.grad is None for p in model.parameters())
    finally:
        model.eval()


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_pgd_agrees_with_torchattacks(digits: Digits, eps: float) -> None:
    model, x, y = digits
    ours = pgd(model, x, y, eps, BOXES, steps=10, step_size=2.5, gen=_gen())
    torch.manual_seed(0)
    adv = torchattacks.PGD(model, eps=eps, alpha=0.25 * eps, steps=10, random_start=True)(x, y)
    theirs = _acc(model, adv, y)
    assert abs(float(ours.correct.float().mean()) - theirs) <= 0.02


@pytest.mark.parametrize(("eps", "loss"), [(0.1, "ce"), (0.1, "dlr"), (0.2, "ce")])
def test_apgd_agrees_with_torchattacks_and_beats_pgd(digits: Digits, eps: float, loss: str) -> None:
    model, x, y = digits
    ours = apgd(model, x, y, eps, BOXES, loss=loss, steps=10, gen=_gen())  # type: ignore[arg-type]
    reference = torchattacks.APGD(model, norm="Linf", eps=eps, steps=10, loss=loss, seed=0)
    theirs = _acc(model, reference(x, y), y)
    acc = float(ours.correct.float().mean())
    assert abs(acc - theirs) <= 0.03
    assert acc <= float(pgd(model, x, y, eps, BOXES, gen=_gen()).correct.float().mean()) + 0.03


def test_dlr_loss_matches_its_formula() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 5.0, 1.0]])
    y = torch.tensor([0, 1])
    expected = torch.tensor([-(3.0 - 1.0) / (3.0 - 0.0), -(2.0 - 5.0) / (5.0 - 1.0)])
    torch.testing.assert_close(dlr_loss(logits, y), expected)


def test_accuracy_falls_with_eps_and_worst_case_is_below_every_attack(digits: Digits) -> None:
    model, x, y = digits
    task = Task("digits", {"test": Split(x[:200], y[:200])}, IMAGE, tuple("0123456789"))
    rows = adversarial_rows(
        model, task.test, task, (0.03, 0.1, 0.3), "linf", settings=AttackSettings(), seed=0
    )
    attacks = ("fgsm", "pgd", "apgd_ce", "apgd_dlr")
    for row in rows:
        assert all(row["worst_case"] <= row[a] <= row["clean"] for a in attacks)
    for a, b in itertools.pairwise(rows):
        assert all(b[k] <= a[k] + 0.01 for k in (*attacks, "worst_case"))
    assert rows[-1]["worst_case"] < 0.05 < rows[0]["worst_case"]


class KeywordModel(nn.Module):
    """Class 1 if "good" outnumbers "bad" (ties go to class 0)."""

    def __init__(self, vocab: WordVocab) -> None:
        super().__init__()
        self.size = vocab.vocab_size
        self.weight = torch.zeros(vocab.vocab_size, 2)
        self.weight[vocab.index["good"], 1] = 1.0
        self.weight[vocab.index["bad"], 0] = 1.0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        counts = nn.functional.one_hot(ids, self.size).float().sum(1)
        return counts @ self.weight + torch.tensor([1e-3, 0.0])


def test_text_edit_attack_is_monotone_and_finds_the_keyword() -> None:
    texts = ["a good movie with a fine plot", "a bad movie with a thin plot"] * 10
    y = torch.tensor([1, 0] * 10)
    vocab = WordVocab.fit(texts, min_count=1)
    model = KeywordModel(vocab)
    accs = text_edit_attack(model, vocab, texts, y, budget=3, candidates=8, seed=0)
    assert accs[0] == 1.0 and len(accs) == 4
    assert all(b <= a for a, b in itertools.pairwise(accs))
    assert accs[-1] <= 0.6  # most "good" reviews lose their keyword; "bad" ones stay correct
    assert accs == text_edit_attack(model, vocab, texts, y, budget=3, candidates=8, seed=0)


class ReviewAndTable(nn.Module):
    """A two-input model: the keyword model's logits on ``review`` plus a table's vote, each
    row's table column "flag" adding ``weight`` to class 1."""

    def __init__(self, vocab: WordVocab, weight: float) -> None:
        super().__init__()
        self.words = KeywordModel(vocab)
        self.weight = weight

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.words(x["review"])
        return logits + self.weight * x["table"] * torch.tensor([0.0, 1.0])


def test_text_edit_attack_edits_the_text_input_beside_the_others() -> None:
    texts = ["a good movie with a fine plot", "a bad movie with a thin plot"] * 10
    y = torch.tensor([1, 0] * 10)
    vocab = WordVocab.fit(texts, min_count=1)
    # a table that never votes: the same accuracies as the text model alone, edit for edit
    quiet = {"table": torch.zeros(20, 1), "review": torch.zeros(20, 0, dtype=torch.int64)}
    alone = text_edit_attack(KeywordModel(vocab), vocab, texts, y, budget=3, seed=0)
    beside = text_edit_attack(
        ReviewAndTable(vocab, 1.0), vocab, texts, y, budget=3, seed=0, context=quiet, key="review"
    )
    assert beside == alone and alone[-1] < 1.0
    # the table carries the answer for the class-1 rows (flag = y): no text edit can flip them
    loud = {"table": y[:, None].float() * 5.0}
    held = text_edit_attack(
        ReviewAndTable(vocab, 1.0), vocab, texts, y, budget=3, seed=0, context=loud, key="review"
    )
    assert held == [1.0] * 4
