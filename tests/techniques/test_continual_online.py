"""The prequential loop: scored before trained, adaptations only after a detection."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from river import base as river_base
from torch import nn

from fivefold.errors import ConfigError
from fivefold.seeding import child_seed
from fivefold.techniques.adaptive.continual.detectors import DriftMonitor
from fivefold.techniques.adaptive.continual.online import prequential_train, reset_last_linear
from fivefold.techniques.adaptive.continual.replay import ReservoirBuffer


class FiresAt(river_base.DriftDetector):
    """A river detector that signals a drift at the ``at``-th value (0-based) only."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self._n = 0

    def update(self, x: int | float) -> None:
        self._drift_detected = self._n == self.at
        self._n += 1


def data(n: int = 80, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def test_each_chunk_is_scored_before_training_on_it() -> None:
    x, y = data()
    model = mlp()
    untrained = copy.deepcopy(model)
    result = prequential_train(model, x, y, batch_size=10, lr=0.5, steps_per_batch=20, seed=0)
    with torch.no_grad():
        first = untrained(x[:10])
    np.testing.assert_array_equal(result.correct[:10], (first.argmax(1) == y[:10]).numpy())
    np.testing.assert_allclose(
        result.losses[:10], F.cross_entropy(first, y[:10], reduction="none").numpy(), rtol=1e-6
    )
    # the model memorises each chunk after scoring it: trained, it gets chunk 0 right
    after = copy.deepcopy(untrained)
    prequential_train(after, x[:10], y[:10], batch_size=10, lr=0.5, steps_per_batch=20, seed=0)
    with torch.no_grad():
        assert bool((after(x[:10]).argmax(1) == y[:10]).all())
    assert result.correct[:10].mean() < 1.0


def test_a_later_chunk_is_scored_by_the_model_trained_on_the_prefix() -> None:
    x, y = data()
    full = prequential_train(mlp(), x, y, batch_size=16, lr=0.05, steps_per_batch=2, seed=4)
    prefix_model = mlp()
    prequential_train(
        prefix_model, x[:48], y[:48], batch_size=16, lr=0.05, steps_per_batch=2, seed=4
    )
    with torch.no_grad():
        losses = F.cross_entropy(prefix_model(x[48:64]), y[48:64], reduction="none")
    np.testing.assert_allclose(full.losses[48:64], losses.numpy(), rtol=1e-5)
    assert full.correct.dtype == np.bool_ and full.losses.shape == (80,)
    assert len(full.lrs) == 5 * 2


def test_lr_boost_starts_only_after_a_detection() -> None:
    x, y = data()
    monitor = DriftMonitor(FiresAt(37))
    result = prequential_train(
        mlp(), x, y, batch_size=10, lr=0.01, steps_per_batch=2, detector=monitor,
        on_drift="lr_boost", boost=10.0, boost_steps=3, seed=0,
    )  # fmt: skip
    assert result.detections == [37] and result.adaptations == [37]
    # detection in chunk 3 (samples 30..39), whose training steps are 6 and 7: steps 6..8
    expected = [0.01] * 6 + [0.1] * 3 + [0.01] * 7
    np.testing.assert_allclose(result.lrs, expected)
    plain = prequential_train(
        mlp(), x, y, batch_size=10, lr=0.01, steps_per_batch=2,
        detector=DriftMonitor(FiresAt(37)), seed=0,
    )  # fmt: skip
    assert plain.detections == [37] and plain.adaptations == []
    np.testing.assert_allclose(plain.lrs, [0.01] * 16)


def test_reset_head_restores_a_fresh_seeded_init() -> None:
    fresh_seed = child_seed(9, "reset_head", 0)
    torch.manual_seed(fresh_seed)
    fresh = nn.Linear(16, 2)
    model = mlp()
    with torch.no_grad():
        model[2].weight.mul_(5.0)
    state = torch.get_rng_state()
    reset_last_linear(model, fresh_seed)
    assert torch.equal(torch.get_rng_state(), state)  # the global stream is untouched
    torch.testing.assert_close(model[2].weight, fresh.weight, rtol=0, atol=0)
    torch.testing.assert_close(model[2].bias, fresh.bias, rtol=0, atol=0)
    # in the loop: SGD with a negligible lr leaves the reset head as it was initialised
    x, y = data()
    model = mlp()
    with torch.no_grad():
        model[2].weight.mul_(5.0)
    first = model[0].weight.detach().clone()
    result = prequential_train(
        model, x, y, batch_size=20, lr=1e-30, optimizer="sgd", detector=DriftMonitor(FiresAt(45)),
        on_drift="reset_head", seed=9,
    )  # fmt: skip
    assert result.adaptations == [45]
    torch.testing.assert_close(model[2].weight, fresh.weight, rtol=0, atol=0)
    torch.testing.assert_close(model[0].weight, first, rtol=0, atol=0)


def test_replay_refresh_empties_the_buffer_at_the_detection() -> None:
    x, y = data()
    buffer = ReservoirBuffer(30, seed=0)
    result = prequential_train(
        mlp(), x, y, batch_size=10, lr=0.01, detector=DriftMonitor(FiresAt(52)),
        on_drift="replay_refresh", replay=buffer, replay_batch=8, seed=0,
    )  # fmt: skip
    assert result.adaptations == [52]
    assert buffer.seen == 30  # cleared before chunk 5 (rows 50..59) was added
    assert min(buffer.state()["ids"]) >= 50


def test_replay_runs_are_deterministic_and_learn() -> None:
    x, y = data(n=400, seed=1)

    def run() -> np.ndarray:
        buffer = ReservoirBuffer(50, seed=2)
        return prequential_train(
            mlp(), x, y, batch_size=20, lr=0.02, replay=buffer, replay_batch=10, seed=3
        ).losses

    a, b = run(), run()
    np.testing.assert_array_equal(a, b)
    result = prequential_train(mlp(), x, y, batch_size=20, lr=0.02, seed=3)
    assert result.correct[200:].mean() > result.correct[:40].mean()
    assert result.accuracy == pytest.approx(result.correct.mean())


def test_options_are_checked() -> None:
    x, y = data()
    with pytest.raises(ConfigError, match="replay_refresh needs a replay buffer"):
        prequential_train(mlp(), x, y, batch_size=10, lr=0.1, on_drift="replay_refresh", seed=0)
    with pytest.raises(ConfigError, match="batch_size"):
        prequential_train(mlp(), x, y, batch_size=0, lr=0.1, seed=0)
    with pytest.raises(ConfigError, match="replay_batch"):
        prequential_train(mlp(), x, y, batch_size=10, lr=0.1, replay_batch=4, seed=0)


SEEN: list[float] = []


class Records(river_base.DriftDetector):
    """A river detector that never fires and appends every value to ``SEEN``."""

    def update(self, x: int | float) -> None:
        SEEN.append(float(x))


@pytest.mark.parametrize("signal", ["error", "loss"])
def test_the_detector_sees_each_samples_signal_in_order(signal: str) -> None:
    x, y = data()
    SEEN.clear()
    result = prequential_train(
        mlp(), x, y, batch_size=16, lr=0.05, detector=DriftMonitor(Records()),
        signal=signal, seed=0,  # type: ignore[arg-type]
    )  # fmt: skip
    expected = 1.0 - result.correct if signal == "error" else result.losses
    np.testing.assert_allclose(SEEN, expected)
    assert result.detections == []
