"""Deletion/insertion curves, max-sensitivity, Spearman and the randomisation sanity check."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from captum.metrics import sensitivity_max
from scipy.stats import spearmanr
from torch import nn

from fivefold.data import DataConfig, Task, load_task
from fivefold.pillars.interpretability.attributions import integrated_gradients, saliency
from fivefold.pillars.interpretability.faithfulness import (
    Perturbed,
    expand_units,
    max_sensitivity,
    perturbation_curves,
    random_scores,
    randomized_models,
    spearman,
    unit_scores,
)


@functools.cache
def digits() -> Task:
    return load_task(DataConfig(dataset="digits"))


@functools.cache
def trained_digits_model() -> nn.Module:
    """A small MLP trained full-batch on digits images (≈ 95 % test accuracy)."""
    task = digits()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(80):
        opt.zero_grad()
        F.cross_entropy(model(task.train.x), task.train.y).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()


def digit_images(n: int) -> torch.Tensor:
    x = digits().test.x
    assert isinstance(x, torch.Tensor)
    return x[:n]


def setup_for(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Perturbed:
    valid = torch.ones(len(x), x[0, 0].numel(), dtype=torch.bool)
    return Perturbed(model, (x,), (torch.zeros_like(x),), (), target, (0,), valid)


def test_units_pool_an_axis_and_expand_back() -> None:
    attr = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    scores = unit_scores((attr,), (0,))
    assert scores.shape == (2, 20)
    assert torch.equal(scores, attr.sum(1).flatten(1))
    (mask,) = expand_units(scores > 100, (attr,), (0,))
    assert mask.shape == (2, 1, 4, 5)
    text = torch.randn(2, 7, 8)  # (B, L, D): one unit per token
    assert torch.equal(unit_scores((text,), (-1,)), text.sum(-1))


def test_curve_endpoints_are_the_input_and_the_baseline() -> None:
    model = trained_digits_model()
    x = digit_images(16)
    target = model(x).argmax(1)
    setup = setup_for(model, x, target)
    curves = perturbation_curves(setup, torch.randn(16, 64), steps=10)
    with torch.no_grad():
        full = model(x).softmax(1)[torch.arange(16), target]
        empty = model(torch.zeros_like(x)).softmax(1)[torch.arange(16), target]
    assert curves.insertion.shape == (16, 11)
    assert torch.allclose(curves.insertion[:, 0], empty, atol=1e-6)
    assert torch.allclose(curves.insertion[:, -1], full, atol=1e-6)
    assert torch.allclose(curves.deletion[:, 0], full, atol=1e-6)
    assert torch.allclose(curves.deletion[:, -1], empty, atol=1e-6)


def test_curve_matches_a_naive_loop() -> None:
    model = trained_digits_model()
    x = digit_images(3)
    target = torch.tensor([0, 1, 2])
    scores = torch.randn(3, 64)
    curves = perturbation_curves(setup_for(model, x, target), scores, steps=4)
    for i in range(3):
        order = scores[i].argsort(descending=True)
        for k in range(5):
            kept = x[i].clone().view(-1)
            kept[order[: round(k / 4 * 64)]] = 0.0
            with torch.no_grad():
                p = model(kept.view(1, 1, 8, 8)).softmax(1)[0, target[i]]
            assert curves.deletion[i, k] == pytest.approx(float(p), abs=1e-6)


def test_ig_deletes_faster_than_a_random_order() -> None:
    model = trained_digits_model()
    x = digit_images(64)
    target = model(x).argmax(1)
    (attr,) = integrated_gradients(model, (x,), (torch.zeros(1, 1, 8, 8),), target, n_steps=32)
    setup = setup_for(model, x, target)
    ig = perturbation_curves(setup, unit_scores((attr,), (0,)))
    rand = perturbation_curves(setup, random_scores(setup.valid, torch.Generator().manual_seed(0)))
    assert ig.deletion_auc() < rand.deletion_auc() - 0.05
    assert ig.insertion_auc() > rand.insertion_auc() + 0.05


def test_invalid_units_are_never_moved() -> None:
    model = trained_digits_model()
    x = digit_images(4)
    setup = setup_for(model, x, torch.zeros(4, dtype=torch.long))
    valid = torch.zeros(4, 64, dtype=torch.bool)
    setup = replace(setup, valid=valid)
    curves = perturbation_curves(setup, torch.randn(4, 64), steps=5)
    assert torch.allclose(curves.deletion, curves.deletion[:, :1].expand(-1, 6))


def test_max_sensitivity_agrees_with_captum() -> None:
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) + 0.5

    def identity(inputs: tuple[torch.Tensor, ...], rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return inputs

    ours = max_sensitivity(identity, (x,), [0.02], 10, torch.Generator().manual_seed(1))
    theirs = sensitivity_max(lambda inp: inp, x, perturb_radius=0.02, n_perturb_samples=10)
    assert float(ours.mean()) == pytest.approx(float(theirs.mean()), rel=0.05)
    assert torch.allclose(ours, theirs, rtol=0.15)
    # uniform noise in [-r, r]^d has norm ≈ r·sqrt(d/3)
    expected = 0.02 * math.sqrt(256 / 3) / x.flatten(1).norm(dim=1)
    assert torch.allclose(ours, expected, rtol=0.1)


def test_max_sensitivity_is_zero_for_a_constant_explanation() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x, target = torch.rand(5, 1, 8, 8), torch.arange(5)

    def explain(inputs: tuple[torch.Tensor, ...], rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return saliency(model, inputs, target[rows])

    out = max_sensitivity(explain, (x,), [0.1], 4, torch.Generator().manual_seed(0))
    assert out.abs().max() < 1e-6


def test_spearman_equals_scipy_with_ties() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (4, 30), generator=g).float()
    b = a + torch.randn(4, 30, generator=g)
    valid = torch.rand(4, 30, generator=g) > 0.2
    ours = spearman(a, b, valid)
    for i in range(4):
        expected = spearmanr(a[i][valid[i]].numpy(), b[i][valid[i]].numpy()).statistic
        assert float(ours[i]) == pytest.approx(expected, abs=1e-9)
    assert torch.isnan(spearman(torch.ones(1, 5), torch.randn(1, 5), torch.ones(1, 5).bool()))


def _scores(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    (attr,) = saliency(model, (x,), target)
    return unit_scores((attr,), (0,))


def test_randomisation_destroys_a_trained_models_saliency() -> None:
    model = trained_digits_model()
    x = digit_images(32)
    target = model(x).argmax(1)
    before = _scores(model, x, target)
    [(label, randomized)] = list(randomized_models(model, seed=0))
    assert label == "all"
    after = _scores(randomized, x, target)
    rho = spearman(before, after, torch.ones_like(before, dtype=torch.bool)).nanmean()
    assert rho < 0.5
    assert torch.equal(before, _scores(model, x, target))  # the original is untouched


def test_randomisation_that_changes_nothing_keeps_perfect_correlation() -> None:
    torch.manual_seed(0)
    hidden, head = nn.Linear(64, 32), nn.Linear(32, 10)
    for layer in (hidden, head):
        layer.reset_parameters = lambda: None  # type: ignore[method-assign]
    model = nn.Sequential(nn.Flatten(), hidden, nn.Tanh(), head).eval()
    x, target = torch.rand(8, 1, 8, 8), torch.arange(8)
    [(_, same)] = list(randomized_models(model, seed=0))
    before, after = _scores(model, x, target), _scores(same, x, target)
    rho = spearman(before, after, torch.ones_like(before, dtype=torch.bool))
    assert torch.allclose(rho, torch.ones_like(rho))


def test_cascading_randomisation_goes_from_the_head_down_and_is_seeded() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2))
    runs = [list(randomized_models(model, seed=3, cascade=True)) for _ in range(2)]
    assert [label for label, _ in runs[0]] == ["2", "1", "0"]
    first = runs[0][0][1]
    new, old = first.state_dict(), model.state_dict()
    assert torch.equal(new["0.weight"], old["0.weight"])  # only the head is re-drawn
    assert not torch.equal(new["2.weight"], old["2.weight"])
    for (_, a), (_, b) in zip(*runs, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
