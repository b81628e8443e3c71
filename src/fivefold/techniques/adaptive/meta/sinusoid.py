"""The sinusoid regression benchmark of the MAML paper (Finn, Abbeel & Levine 2017, Sec. 5.1).

A task is ``y = A sin(x - φ)`` with amplitude ``A ~ U[0.1, 5.0]`` and phase ``φ ~ U[0, π]``;
inputs are ``x ~ U[-5, 5]``. The network is an MLP 1 → 40 → 40 → 1 with ReLUs. MAML meta-trains
it with K support points per task, one inner SGD step at α = 0.01, 25 tasks per meta-batch and
Adam at 0.001 (the paper ran 70,000 meta-iterations); the "pretrained" baseline is the same
network regressing on samples of all tasks jointly. Both are then fine-tuned on K points of new
tasks with SGD at α = 0.01 for 1, 5 or 10 steps and scored by the MSE over the whole [-5, 5]
range.

Reference: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML 2017, Sec. 5.1 and appendix A.1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.errors import ConfigError
from fivefold.seeding import child_seed, torch_generator
from fivefold.techniques.adaptive.meta.episodes import Episode
from fivefold.techniques.adaptive.meta.learners import MetaLearner

__all__ = [
    "AMPLITUDE",
    "PHASE",
    "X_RANGE",
    "SinusoidTasks",
    "evaluate_sinusoid",
    "sinusoid_mlp",
    "sinusoid_tasks",
    "train_maml_sinusoid",
    "train_pretrained_sinusoid",
]

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


@dataclass(frozen=True)
class SinusoidTasks:
    """``n`` sinusoid tasks with their support and query points.

    Attributes:
        amplitude: (n,) amplitudes A.
        phase: (n,) phases φ.
        episode: the batched episode: (n, k, 1) support and (n, queries, 1) query inputs and
            targets ``A sin(x - φ)``; ``classes`` is (n, 0).
    """

    amplitude: torch.Tensor
    phase: torch.Tensor
    episode: Episode

    def __len__(self) -> int:
        return len(self.amplitude)


def _uniform(n: int, bounds: tuple[float, float], g: torch.Generator) -> torch.Tensor:
    """(n,) draws from U[low, high]."""
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=g)


def _draw(n: int, k: int, queries: int, grid: bool, g: torch.Generator) -> SinusoidTasks:
    """``n`` tasks, ``k`` random support points each, ``queries`` query points."""
    amplitude, phase = _uniform(n, AMPLITUDE, g), _uniform(n, PHASE, g)
    support_x = _uniform(n * k, X_RANGE, g).view(n, k, 1)
    if grid:
        query_x = torch.linspace(*X_RANGE, queries).view(1, queries, 1).expand(n, -1, -1)
    else:
        query_x = _uniform(n * queries, X_RANGE, g).view(n, queries, 1)
    a, p = amplitude.view(n, 1, 1), phase.view(n, 1, 1)
    episode = Episode(
        support_x,
        a * torch.sin(support_x - p),
        query_x.contiguous(),
        a * torch.sin(query_x - p),
        torch.zeros(n, 0, dtype=torch.int64),
    )
    return SinusoidTasks(amplitude, phase, episode)


def _check_counts(**counts: int) -> None:
    """ConfigError naming the first count below 1."""
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"sinusoid: {name}={value} must be 1 or more")


def sinusoid_tasks(
    n: int, k: int, seed: int, *, queries: int | None = None, grid: bool = False
) -> SinusoidTasks:
    """``n`` new sinusoid tasks, deterministic per seed.

    Args:
        n: number of tasks.
        k: support points per task (K), uniform in [-5, 5].
        seed: which tasks.
        queries: query points per task (None: ``k``, or 100 with ``grid``).
        grid: evenly spaced query points covering [-5, 5] (evaluation) instead of uniform
            draws (meta-training).

    Returns:
        the tasks with their batched episode.

    Raises:
        ConfigError: when a count is below 1.
    """
    n_query = queries if queries is not None else (100 if grid else k)
    _check_counts(n=n, k=k, queries=n_query)
    return _draw(n, k, n_query, grid, torch_generator(seed, "sinusoid-tasks"))


def sinusoid_mlp(seed: int) -> nn.Sequential:
    """The paper's network, 1 → 40 → 40 → 1 with ReLUs, initialised from ``seed``.

    Args:
        seed: the initialisation (the global stream is forked, not consumed).

    Returns:
        the freshly initialised network.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(seed, "sinusoid-mlp"))
        return nn.Sequential(
            nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1)
        )


def train_maml_sinusoid(
    iterations: int,
    k: int,
    seed: int,
    first_order: bool = False,
    *,
    meta_batch: int = 25,
    inner_lr: float = 0.01,
    meta_lr: float = 1e-3,
) -> nn.Module:
    """Meta-train the sinusoid MLP with MAML (or first-order MAML).

    Each meta-iteration draws ``meta_batch`` fresh tasks with K support and K query points,
    takes one inner SGD step and one Adam step on the post-adaptation query MSE.

    Args:
        iterations: meta-iterations (the paper: 70,000).
        k: support (and query) points per task.
        seed: initialisation and task stream.
        first_order: first-order MAML instead of second-order.
        meta_batch: tasks per meta-iteration (the paper: 25).
        inner_lr: inner SGD step α (the paper: 0.01).
        meta_lr: Adam's learning rate (the paper: 0.001).

    Returns:
        the meta-trained network.

    Raises:
        ConfigError: when a count is below 1.
    """
    _check_counts(iterations=iterations, k=k, meta_batch=meta_batch)
    learner = MetaLearner(
        sinusoid_mlp(seed),
        method="fomaml" if first_order else "maml",
        ways=1,
        inner_lr=inner_lr,
        inner_steps=1,
        meta_lr=meta_lr,
        meta_batch=meta_batch,
        loss="mse",
        seed=seed,
    )
    g = torch_generator(seed, "sinusoid-meta-train")
    learner.fit(lambda n: _draw(n, k, k, False, g).episode, iterations)
    return learner.model


def train_pretrained_sinusoid(
    iterations: int, seed: int, *, tasks: int = 25, points: int = 10, lr: float = 1e-3
) -> nn.Module:
    """The "pretrained" baseline: the sinusoid MLP regressing on all tasks jointly.

    Each iteration draws ``tasks`` fresh tasks with ``points`` points each (the data MAML sees
    per meta-iteration with K = 5 support + 5 query points) and takes one Adam step on their
    pooled MSE.

    Args:
        iterations: Adam steps.
        seed: initialisation and task stream.
        tasks: tasks per step.
        points: points per task.
        lr: Adam's learning rate.

    Returns:
        the trained network.

    Raises:
        ConfigError: when a count is below 1.
    """
    _check_counts(iterations=iterations, tasks=tasks, points=points)
    model = sinusoid_mlp(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch_generator(seed, "sinusoid-pretrain")
    for _ in range(iterations):
        episode = _draw(tasks, points, 1, False, g).episode
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(episode.support_x), episode.support_y).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return model


def evaluate_sinusoid(
    model: nn.Module, tasks: SinusoidTasks, steps: Sequence[int] = (1, 5, 10), lr: float = 0.01
) -> dict[int, float]:
    """Mean query MSE after K-shot SGD fine-tuning, for each number of steps.

    Args:
        model: a sinusoid network (MAML-trained or pretrained); it is not changed.
        tasks: the evaluation tasks (e.g. ``sinusoid_tasks(n, k, seed, grid=True)``).
        steps: numbers of full-batch SGD steps on each task's K support points (0: none).
        lr: the fine-tuning SGD step α (the paper: 0.01).

    Returns:
        {steps: MSE on the query points, averaged over the tasks}.
    """
    learner = MetaLearner(model, method="maml", ways=1, inner_lr=lr, loss="mse")
    return {s: float(learner.evaluate(tasks.episode, steps=s).mean()) for s in steps}
