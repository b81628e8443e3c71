"""Few-shot baselines: per-episode accuracies in [0, 1], a perfect linear probe on separable
features, penultimate features from a hook, determinism and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.errors import ConfigError
from fivefold.models.mlp import MLPConfig, build_mlp
from fivefold.techniques.adaptive.meta.baselines import (
    features_of,
    finetune_from_scratch,
    linear_probe,
)
from fivefold.techniques.adaptive.meta.episodes import EpisodeSampler


def _clusters(noise: float = 0.05) -> EpisodeSampler:
    """10 tight clusters around one-hot centres in 10-D: linearly separable."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(20)
    x = torch.eye(10)[y] * 3 + noise * torch.randn(len(y), 10, generator=g)
    return EpisodeSampler(x, y, range(10), ways=5, shots=3, queries=5, seed=0)


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 7))


def test_finetune_from_scratch_accuracies_and_determinism() -> None:
    episodes = _clusters(noise=1.0).sample_batch(6)
    scores = finetune_from_scratch(_mlp, episodes, steps=30, lr=1e-2, ways=5, seed=0)
    assert scores.shape == (6,) and scores.dtype == np.float64
    assert ((scores >= 0) & (scores <= 1)).all()
    again = finetune_from_scratch(_mlp, episodes.unbatch(), steps=30, lr=1e-2, ways=5, seed=0)
    np.testing.assert_array_equal(scores, again)
    untrained = finetune_from_scratch(_mlp, episodes, steps=0, lr=1e-2, ways=5, seed=0)
    assert scores.mean() > untrained.mean()
    with pytest.raises(ConfigError, match="steps"):
        finetune_from_scratch(_mlp, episodes, steps=-1, lr=1e-2, ways=5, seed=0)


def test_finetune_gives_each_episode_a_fresh_model() -> None:
    seeds: list[int] = []

    def make(seed: int) -> nn.Module:
        seeds.append(seed)
        return _mlp(seed)

    finetune_from_scratch(make, _clusters().sample_batch(3), steps=1, lr=1e-2, ways=5, seed=4)
    assert len(set(seeds)) == 3


def test_linear_probe_is_perfect_on_separable_features() -> None:
    episodes = _clusters().sample_batch(5)
    scores = linear_probe(lambda x: x, episodes, ways=5, l2=1e-3)
    np.testing.assert_array_equal(scores, np.ones(5))


def test_linear_probe_on_noise_is_near_chance() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(10).repeat(20)
    x = torch.randn(len(y), 10, generator=g)  # labels carry no signal
    episodes = EpisodeSampler(x, y, range(10), ways=5, shots=3, queries=5, seed=0).sample_batch(20)
    scores = linear_probe(lambda v: v, episodes, ways=5, l2=1e-2)
    assert ((scores >= 0) & (scores <= 1)).all() and scores.mean() < 0.45
    with pytest.raises(ConfigError, match="l2"):
        linear_probe(lambda v: v, episodes, ways=5, l2=-1.0)


def test_features_of_is_the_input_of_the_last_linear() -> None:
    task = tiny_task("tabular", n=30)
    model = build_mlp(MLPConfig(hidden=(8,), dropout=0.5), task).train()
    x = task.train.x
    assert isinstance(x, torch.Tensor)
    features = features_of(model)(x)
    assert model.training  # its mode is restored
    model.eval()
    torch.testing.assert_close(features, model.features(x))  # dropout off: eval mode
    seq = _mlp(0)
    hidden = features_of(seq)(torch.ones(4, 10))
    assert hidden.shape == (4, 16)
    assert not seq[-1]._forward_pre_hooks  # the hook is removed after each call


def test_features_of_needs_a_linear_layer() -> None:
    with pytest.raises(ConfigError, match=r"no nn\.Linear") as err:
        features_of(nn.Sequential(nn.ReLU()))
    assert "\n" not in str(err.value)


def test_probe_on_pretrained_features_beats_scratch() -> None:
    """A backbone pretrained on meta-train classes 0-5 gives features on which a probe
    separates the held-out classes 6-9 better than training from scratch on 1 shot."""
    g = torch.Generator().manual_seed(0)
    centres = 2 * torch.randn(10, 4, generator=g)
    y = torch.arange(10).repeat(40)
    x = torch.cat(
        [
            centres[y] + 0.3 * torch.randn(len(y), 4, generator=g),
            torch.randn(len(y), 6, generator=g),
        ],
        dim=1,
    )
    backbone = _mlp(0)
    optimizer = torch.optim.Adam(backbone.parameters(), lr=1e-2)
    train = y < 6
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(backbone(x[train])[:, :6], y[train]).backward()
        optimizer.step()
    sampler = EpisodeSampler(x, y, range(6, 10), ways=4, shots=1, queries=10, seed=0)
    episodes = sampler.sample_batch(20)
    probe = linear_probe(features_of(backbone), episodes, ways=4, l2=1e-2)
    scratch = finetune_from_scratch(_mlp, episodes, steps=20, lr=1e-2, ways=4, seed=0)
    assert probe.mean() > scratch.mean()
