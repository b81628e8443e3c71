"""The MAML paper's sinusoid benchmark: tasks follow the stated ranges, evaluation is the
fine-tuned query MSE, and a short MAML run beats the jointly pretrained network."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fivefold.errors import ConfigError
from fivefold.techniques.adaptive.meta.sinusoid import (
    evaluate_sinusoid,
    sinusoid_mlp,
    sinusoid_tasks,
    train_maml_sinusoid,
    train_pretrained_sinusoid,
)


def test_tasks_follow_the_stated_ranges() -> None:
    tasks = sinusoid_tasks(500, 5, seed=0)
    ep = tasks.episode
    assert (
        len(tasks) == 500 and ep.support_x.shape == (500, 5, 1) and ep.query_x.shape == (500, 5, 1)
    )
    assert tasks.amplitude.min() >= 0.1 and tasks.amplitude.max() <= 5.0
    assert tasks.phase.min() >= 0.0 and tasks.phase.max() <= math.pi
    assert ep.support_x.min() >= -5.0 and ep.support_x.max() <= 5.0
    # the draws cover their ranges (uniform, not a corner of them)
    assert tasks.amplitude.min() < 0.3 and tasks.amplitude.max() > 4.8
    assert tasks.phase.max() > 3.0 and ep.support_x.min() < -4.9
    a, p = tasks.amplitude.view(-1, 1, 1), tasks.phase.view(-1, 1, 1)
    torch.testing.assert_close(ep.support_y, a * torch.sin(ep.support_x - p))
    torch.testing.assert_close(ep.query_y, a * torch.sin(ep.query_x - p))
    assert ep.classes.shape == (500, 0)


def test_grid_queries_cover_the_range_and_seeds_are_stable() -> None:
    tasks = sinusoid_tasks(3, 10, seed=1, grid=True)
    assert tasks.episode.query_x.shape == (3, 100, 1)
    torch.testing.assert_close(tasks.episode.query_x[1, :, 0], torch.linspace(-5, 5, 100))
    again = sinusoid_tasks(3, 10, seed=1, grid=True)
    assert torch.equal(tasks.episode.support_x, again.episode.support_x)
    assert not torch.equal(tasks.amplitude, sinusoid_tasks(3, 10, seed=2).amplitude)
    with pytest.raises(ConfigError, match="k=0"):
        sinusoid_tasks(3, 0, seed=0)


def test_evaluate_is_the_fine_tuned_query_mse() -> None:
    model, tasks = sinusoid_mlp(0), sinusoid_tasks(4, 5, seed=0, grid=True)
    ep = tasks.episode
    before = [p.detach().clone() for p in model.parameters()]
    scores = evaluate_sinusoid(model, tasks, steps=(0, 1))
    with torch.no_grad():
        want0 = sum(float(F.mse_loss(model(ep.query_x[i]), ep.query_y[i])) for i in range(4)) / 4
    assert scores[0] == pytest.approx(want0, rel=1e-5)
    want1 = 0.0
    for i in range(4):  # one SGD step at 0.01, by hand
        clone = sinusoid_mlp(0)
        clone.load_state_dict(model.state_dict())
        F.mse_loss(clone(ep.support_x[i]), ep.support_y[i]).backward()
        with torch.no_grad():
            for p in clone.parameters():
                p.sub_(0.01 * p.grad)
            want1 += float(F.mse_loss(clone(ep.query_x[i]), ep.query_y[i])) / 4
    assert scores[1] == pytest.approx(want1, rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_training_runs_and_is_deterministic() -> None:
    a = train_maml_sinusoid(3, 5, seed=0, meta_batch=4)
    b = train_maml_sinusoid(3, 5, seed=0, meta_batch=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    fo = train_maml_sinusoid(3, 5, seed=0, first_order=True, meta_batch=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), fo.parameters(), strict=True))
    assert sum(1 for _ in train_pretrained_sinusoid(3, seed=0).parameters()) == 6


def test_short_maml_beats_pretrained_after_one_step() -> None:
    """500 iterations with Adam at 3e-3 (the paper: 70,000 at 1e-3) for both networks."""
    tasks = sinusoid_tasks(100, 5, seed=123, grid=True)
    maml = train_maml_sinusoid(500, 5, seed=0, meta_lr=3e-3)
    pretrained = train_pretrained_sinusoid(500, seed=0, lr=3e-3)
    after_maml = evaluate_sinusoid(maml, tasks, steps=(1,))[1]
    assert after_maml < 0.8 * evaluate_sinusoid(pretrained, tasks, steps=(1,))[1]


@pytest.mark.slow
def test_maml_and_fomaml_beat_pretrained_at_every_step_count() -> None:
    """4000 meta-iterations (the paper ran 70,000): both MAMLs below 1.2 after one step and
    below the pretrained network's MSE after 1, 5 and 10 steps."""
    tasks = sinusoid_tasks(200, 5, seed=123, grid=True)
    pretrained = evaluate_sinusoid(train_pretrained_sinusoid(4000, seed=0), tasks)
    for first_order in (False, True):
        maml = evaluate_sinusoid(train_maml_sinusoid(4000, 5, 0, first_order), tasks)
        assert maml[1] < 1.2
        assert all(maml[s] < 0.6 * pretrained[s] for s in (1, 5, 10))
