"""The prequential (test-then-train) loop: predict each chunk of a stream, then learn from it.

Every sample is scored by the model before the model has trained on it, so the per-sample
record is an honest running estimate of accuracy on a changing stream. A drift detector can
watch the per-sample errors or losses and trigger an adaptation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, index_inputs, input_length
from fivefold.errors import ConfigError
from fivefold.seeding import child_seed
from fivefold.techniques.adaptive.continual.detectors import DriftMonitor
from fivefold.techniques.adaptive.continual.metrics import prequential_accuracy
from fivefold.techniques.adaptive.continual.replay import ReservoirBuffer

__all__ = ["ON_DRIFT", "OnlineResult", "prequential_train", "reset_last_linear"]

Optimizer = Literal["sgd", "adam", "adamw"]
Signal = Literal["error", "loss"]
OnDrift = Literal["none", "lr_boost", "replay_refresh", "reset_head"]
ON_DRIFT = ("none", "lr_boost", "replay_refresh", "reset_head")


@dataclass(frozen=True)
class OnlineResult:
    """The record of one prequential run.

    Attributes:
        correct: (N,) bool, whether each sample was predicted right before training on it.
        losses: (N,) float64 cross-entropy of each sample, before training on it.
        detections: sample indexes at which the detector fired.
        adaptations: sample index of the detection that triggered each adaptation (one per
            chunk that had a detection; empty when ``on_drift`` is "none").
        lrs: (steps,) the learning rate of every optimizer step.
        seconds: wall-clock time of the loop.
    """

    correct: npt.NDArray[np.bool_]
    losses: npt.NDArray[np.float64]
    detections: list[int] = field(default_factory=list)
    adaptations: list[int] = field(default_factory=list)
    lrs: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        """The prequential accuracy (mean of ``correct``)."""
        return prequential_accuracy(self.correct)


def _optimizer(kind: str, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr)


def reset_last_linear(model: nn.Module, seed: int) -> nn.Linear:
    """Re-initialise the model's last ``nn.Linear`` (in ``modules()`` order), seeded.

    ``reset_parameters()`` draws from torch's global stream, so it runs inside
    ``torch.random.fork_rng`` seeded with ``seed``: the weights equal those of a new
    ``nn.Linear`` of the same shape built right after ``torch.manual_seed(seed)``, and the
    caller's global stream is untouched.

    Args:
        model: a model with at least one ``nn.Linear`` (the head of a fivefold Classifier).
        seed: seed of the fresh weights.

    Returns:
        the layer that was reset.

    Raises:
        ConfigError: the model has no ``nn.Linear``.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("online: on_drift=reset_head needs a model with an nn.Linear head")
    head = linears[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head.reset_parameters()
    return head


def _check(
    batch_size: int,
    lr: float,
    optimizer: str,
    steps_per_batch: int,
    signal: str,
    on_drift: str,
    boost: float,
    boost_steps: int,
    replay: ReservoirBuffer | None,
    replay_batch: int,
) -> None:
    if batch_size < 1:
        raise ConfigError(f"online: batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ConfigError(f"online: lr must be > 0, got {lr}")
    if optimizer not in ("sgd", "adam", "adamw"):
        raise ConfigError(f"online: optimizer must be sgd, adam or adamw, got {optimizer!r}")
    if steps_per_batch < 1:
        raise ConfigError(f"online: steps_per_batch must be >= 1, got {steps_per_batch}")
    if signal not in ("error", "loss"):
        raise ConfigError(f"online: signal must be 'error' or 'loss', got {signal!r}")
    if on_drift not in ON_DRIFT:
        raise ConfigError(
            f"online: on_drift must be one of {', '.join(ON_DRIFT)}, got {on_drift!r}"
        )
    if not boost > 0 or boost_steps < 0:
        raise ConfigError(
            f"online: boost must be > 0 and boost_steps >= 0, got {boost} and {boost_steps}"
        )
    if replay_batch < 0 or (replay_batch > 0 and replay is None):
        raise ConfigError(
            f"online: replay_batch={replay_batch} needs replay_batch >= 0 and a replay buffer"
        )
    if on_drift == "replay_refresh" and replay is None:
        raise ConfigError("online: on_drift=replay_refresh needs a replay buffer (pass replay)")


def _concat(a: Inputs, b: Inputs) -> Inputs:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: torch.cat([a[k], b[k].to(a[k].device)]) for k in a}
    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return torch.cat([a, b.to(a.device)])


def prequential_train(
    model: nn.Module,
    x: Inputs,
    y: torch.Tensor,
    *,
    batch_size: int,
    lr: float,
    optimizer: Optimizer = "adam",
    steps_per_batch: int = 1,
    detector: DriftMonitor | None = None,
    signal: Signal = "error",
    on_drift: OnDrift = "none",
    boost: float = 10.0,
    boost_steps: int = 20,
    replay: ReservoirBuffer | None = None,
    replay_batch: int = 0,
    seed: int = 0,
) -> OnlineResult:
    """Test-then-train over the stream ``(x, y)`` in order, chunk by chunk.

    For each consecutive chunk of ``batch_size`` samples:

    1. predict it in eval mode and record each sample's correctness and loss;
    2. feed each sample's signal (``error`` = 1 - correct, or ``loss``) to the detector, in
       order; when it fires at least once in the chunk, apply ``on_drift`` once:
       ``lr_boost`` multiplies the learning rate by ``boost`` for the next ``boost_steps``
       optimizer steps (a new detection restarts the count), ``replay_refresh`` empties the
       buffer so that it refills with post-drift samples, ``reset_head`` re-initialises the
       last ``nn.Linear`` (seeded by ``child_seed(seed, "reset_head", k)`` for the k-th
       reset) and drops its optimizer state;
    3. take ``steps_per_batch`` optimizer steps in train mode on the chunk, each with
       ``replay_batch`` extra rows drawn afresh from the buffer when it holds any;
    4. add the chunk to the buffer.

    Randomness (dropout, replay draws) comes from ``seed``; torch's global stream is forked
    and left as it was. The model's train/eval mode is restored at the end.

    Args:
        model: maps (B, ...) inputs (a tensor or a dict) to (B, C) logits; trained in place.
        x: (N, ...) inputs in stream order.
        y: (N,) labels.
        batch_size: samples per chunk.
        lr: base learning rate.
        optimizer: "sgd", "adam" or "adamw" (torch defaults otherwise).
        steps_per_batch: optimizer steps per chunk.
        detector: the drift monitor, or None.
        signal: what the detector watches: "error" or "loss".
        on_drift: "none", "lr_boost", "replay_refresh" or "reset_head".
        boost: learning-rate factor of ``lr_boost``.
        boost_steps: optimizer steps a boost lasts.
        replay: a reservoir buffer of past samples, or None.
        replay_batch: replayed rows per step (0: the buffer is filled but not replayed).
        seed: seed of the run.

    Returns:
        the :class:`OnlineResult`.

    Raises:
        ConfigError: an option out of range, or an adaptation that lacks what it needs.

    Reference: Gama et al., "On evaluating stream learning algorithms", Machine Learning 2013
    (prequential evaluation); Gama et al., "Learning with Drift Detection", SBIA 2004
    (detector-triggered adaptation).
    """
    _check(
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        steps_per_batch=steps_per_batch,
        signal=signal,
        on_drift=on_drift,
        boost=boost,
        boost_steps=boost_steps,
        replay=replay,
        replay_batch=replay_batch,
    )
    n = len(y)
    if input_length(x) != n:
        raise ConfigError(f"online: {input_length(x)} inputs but {n} labels")
    began = time.perf_counter()
    was_training = model.training
    opt = _optimizer(optimizer, model, lr)
    correct = np.zeros(n, dtype=bool)
    losses = np.zeros(n, dtype=np.float64)
    detections: list[int] = []
    adaptations: list[int] = []
    lrs: list[float] = []
    boost_left = 0
    resets = 0
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(child_seed(seed, "online"))
        gen = torch.Generator().manual_seed(child_seed(seed, "online", "replay"))
        for start in range(0, n, batch_size):
            part = slice(start, min(start + batch_size, n))
            xb, yb = index_inputs(x, part), y[part]
            model.eval()
            with torch.no_grad():
                logits = model(xb)
                loss_b = F.cross_entropy(logits, yb, reduction="none")
                right = logits.argmax(dim=1) == yb
            correct[part] = right.cpu().numpy()
            losses[part] = loss_b.double().cpu().numpy()
            fired: list[int] = []
            if detector is not None:
                values = (1.0 - right.double()) if signal == "error" else loss_b.double()
                for k, value in enumerate(values.tolist()):
                    if detector.update(value):
                        fired.append(start + k)
            detections += fired
            if fired and on_drift != "none":
                adaptations.append(fired[0])
                if on_drift == "lr_boost":
                    boost_left = boost_steps
                elif on_drift == "replay_refresh":
                    assert replay is not None
                    replay.clear()
                else:
                    head = reset_last_linear(model, child_seed(seed, "reset_head", resets))
                    resets += 1
                    for p in head.parameters():
                        opt.state.pop(p, None)
            model.train()
            for _ in range(steps_per_batch):
                step_lr = lr * boost if boost_left > 0 else lr
                boost_left = max(0, boost_left - 1)
                for group in opt.param_groups:
                    group["lr"] = step_lr
                lrs.append(step_lr)
                bx, by = xb, yb
                if replay is not None and replay_batch > 0 and len(replay) > 0:
                    rx, ry = replay.sample(replay_batch, gen)
                    bx, by = _concat(xb, rx), torch.cat([yb, ry.to(yb.device)])
                opt.zero_grad()
                loss = F.cross_entropy(model(bx), by)
                torch.autograd.backward(loss)
                opt.step()
            if replay is not None:
                replay.add(xb, yb)
    model.train(was_training)
    return OnlineResult(
        correct=correct,
        losses=losses,
        detections=detections,
        adaptations=adaptations,
        lrs=np.asarray(lrs, dtype=np.float64),
        seconds=time.perf_counter() - began,
    )
