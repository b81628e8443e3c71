"""Few-shot baselines scored on the same episodes as a meta-learner.

- :func:`finetune_from_scratch`: a freshly initialised network per episode, trained on the
  support set alone.
- :func:`linear_probe`: multinomial logistic regression on frozen features of the support set,
  e.g. the penultimate features (:func:`features_of`) of a network pretrained conventionally on
  the meta-train classes (Tian et al., "Rethinking Few-Shot Image Classification: a Good
  Embedding Is All You Need?", ECCV 2020).

Both take the first ``ways`` logits of a model as the episode's classes, like
:class:`~fivefold.techniques.adaptive.meta.learners.MetaLearner`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fivefold.errors import ConfigError
from fivefold.seeding import child_seed
from fivefold.techniques.adaptive.meta.episodes import Episode, as_episodes

__all__ = ["features_of", "finetune_from_scratch", "linear_probe"]


def _accuracy(logits: torch.Tensor, y: torch.Tensor, ways: int) -> float:
    """Accuracy of the first ``ways`` logits against labels ``y``."""
    return float((logits[..., :ways].argmax(-1) == y).to(torch.float64).mean())


def _train_on_support(model: nn.Module, episode: Episode, steps: int, lr: float, ways: int) -> None:
    """``steps`` full-batch Adam steps of cross-entropy on the support set, in train mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        logits = model(episode.support_x)[..., :ways]
        F.cross_entropy(logits, episode.support_y).backward()  # type: ignore[no-untyped-call]
        optimizer.step()


def finetune_from_scratch(
    make_model: Callable[[int], nn.Module],
    episodes: Episode | Sequence[Episode],
    *,
    steps: int,
    lr: float,
    ways: int,
    seed: int,
) -> np.ndarray:
    """Train a fresh network on each support set and score it on the query set.

    Each episode gets ``make_model(seed_i)`` (``seed_i`` derived from ``seed`` and the episode
    index), trained with full-batch Adam for ``steps`` steps in train mode (dropout on, batch
    norm updating its running statistics), then evaluated in eval mode. The global random
    stream is forked and seeded per episode, so results are deterministic per seed.

    Args:
        make_model: builds a freshly initialised network from a seed; it must give at least
            ``ways`` outputs (the first ``ways`` are used).
        episodes: a batched episode, or single episodes.
        steps: Adam steps on each support set (0 scores the untrained network).
        lr: Adam's learning rate.
        ways: classes per episode.
        seed: base seed of the per-episode initialisations.

    Returns:
        (E,) float64 query accuracy per episode.

    Raises:
        ConfigError: when ``steps`` is negative or ``lr`` is not positive.
    """
    if steps < 0 or not lr > 0:
        raise ConfigError(f"finetune_from_scratch: steps={steps} must be >= 0 and lr={lr} positive")
    scores = []
    for i, episode in enumerate(as_episodes(episodes)):
        with torch.random.fork_rng(devices=[]):
            episode_seed = child_seed(seed, "finetune", i)
            torch.manual_seed(episode_seed)
            model = make_model(episode_seed)
            _train_on_support(model, episode, steps, lr, ways)
            model.eval()
            with torch.no_grad():
                scores.append(_accuracy(model(episode.query_x), episode.query_y, ways))
    return np.asarray(scores, dtype=np.float64)


def _fit_logistic(
    features: torch.Tensor, y: torch.Tensor, ways: int, l2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of a multinomial logistic regression: mean cross-entropy + ``l2 * ||W||²``,
    minimised by L-BFGS (strong Wolfe line search, up to 500 iterations) in float64."""
    weight = torch.zeros(features.shape[1], ways, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(ways, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(features @ weight + bias, y) + l2 * weight.square().sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return weight.detach(), bias.detach()


def linear_probe(
    features: Callable[[torch.Tensor], torch.Tensor],
    episodes: Episode | Sequence[Episode],
    *,
    ways: int,
    l2: float,
) -> np.ndarray:
    """Fit a logistic regression on frozen support features; score it on the query set.

    Features are standardised with the support set's mean and standard deviation before the
    fit (the query set uses the same statistics).

    Args:
        features: maps (N, ...) inputs to (N, D) features (e.g. :func:`features_of`); it is
            called under ``torch.no_grad``.
        episodes: a batched episode, or single episodes.
        ways: classes per episode.
        l2: weight of the ``||W||²`` penalty added to the mean cross-entropy (0 or more).

    Returns:
        (E,) float64 query accuracy per episode.

    Raises:
        ConfigError: when ``l2`` is negative.
    """
    if l2 < 0:
        raise ConfigError(f"linear_probe: l2={l2} must be 0 or more")
    scores = []
    for episode in as_episodes(episodes):
        with torch.no_grad():
            support = features(episode.support_x).flatten(1).to(torch.float64)
            query = features(episode.query_x).flatten(1).to(torch.float64)
        mean, std = support.mean(0), support.std(0, unbiased=False).clamp_min(1e-6)
        weight, bias = _fit_logistic((support - mean) / std, episode.support_y, ways, l2)
        logits = ((query - mean) / std) @ weight + bias
        scores.append(_accuracy(logits, episode.query_y, ways))
    return np.asarray(scores, dtype=np.float64)


def _last_linear(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of ``model`` in registration order."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(
            f"features_of: {type(model).__name__} has no nn.Linear layer; pass a feature "
            "function to linear_probe instead"
        )
    return linears[-1]


def features_of(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The penultimate features of ``model``: the input of its last ``nn.Linear``.

    The returned function runs ``model`` in eval mode under ``torch.no_grad`` with a forward
    hook on that layer (registered per call and removed after), restoring the model's
    train/eval mode afterwards. For a fivefold ``Classifier`` this is ``model.features(x)``.

    Args:
        model: a network whose last ``nn.Linear`` (in registration order) is its output layer.

    Returns:
        ``x -> (N, D)`` features, detached.

    Raises:
        ConfigError: when ``model`` has no ``nn.Linear``.
    """
    layer = _last_linear(model)

    def features(x: torch.Tensor) -> torch.Tensor:
        seen: list[torch.Tensor] = []

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            seen.append(inputs[0].detach())

        handle = layer.register_forward_pre_hook(hook)
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(x)
        finally:
            handle.remove()
            model.train(was_training)
        return seen[-1]

    return features
