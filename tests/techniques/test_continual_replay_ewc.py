"""Reservoir replay against Algorithm R written out, and EWC against naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from support import tiny_task
from torch import nn

from fivefold.errors import ConfigError, DataError
from fivefold.models import build_model, default_model_name
from fivefold.models.base import MODELS
from fivefold.schema import build
from fivefold.techniques.adaptive.continual.ewc import (
    EWCPenalty,
    anchor_of,
    fisher_diagonal,
    merge_fisher,
    merge_penalties,
)
from fivefold.techniques.adaptive.continual.replay import ReservoirBuffer

# --- reservoir ---------------------------------------------------------------------------


def algorithm_r(n: int, capacity: int, seed: int) -> list[int]:
    """Vitter's Algorithm R, one item at a time, with the buffer's documented draws."""
    rng = np.random.default_rng(seed)
    slots: list[int] = []
    for i in range(n):
        if i < capacity:
            slots.append(i)
        else:
            j = int(rng.integers(0, i + 1))
            if j < capacity:
                slots[j] = i
    return slots


def stream(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3), torch.arange(n)


@pytest.mark.parametrize("batch", [1, 3, 7, 50])
def test_reservoir_is_algorithm_r_whatever_the_batching(batch: int) -> None:
    x, y = stream(50)
    buf = ReservoirBuffer(8, seed=11)
    for start in range(0, 50, batch):
        buf.add(x[start : start + batch], y[start : start + batch])
    assert buf.state()["ids"] == algorithm_r(50, 8, 11)
    assert len(buf) == 8 and buf.seen == 50
    bx, by = buf.contents()
    assert isinstance(bx, torch.Tensor)
    torch.testing.assert_close(by, torch.tensor(algorithm_r(50, 8, 11)))
    torch.testing.assert_close(bx[:, 0], by.float())  # rows stay with their labels


def test_first_capacity_items_are_kept() -> None:
    x, y = stream(5)
    buf = ReservoirBuffer(5, seed=0)
    buf.add(x, y)
    assert buf.state()["ids"] == [0, 1, 2, 3, 4]
    small = ReservoirBuffer(10, seed=0)
    small.add(x[:3], y[:3])
    assert len(small) == 3 and small.state()["ids"] == [0, 1, 2]


def test_each_item_is_kept_with_probability_capacity_over_n() -> None:
    n, capacity, runs = 20, 5, 2000
    x, y = stream(n)
    counts = np.zeros(n)
    for seed in range(runs):
        buf = ReservoirBuffer(capacity, seed=seed)
        buf.add(x, y)
        counts[buf.state()["ids"]] += 1
    expected = runs * capacity / n  # 500 per item
    sd = np.sqrt(runs * (capacity / n) * (1 - capacity / n))  # binomial sd per item, ~19
    assert np.abs(counts - expected).max() < 5 * sd
    assert stats.chisquare(counts).pvalue > 0.001


def test_same_seed_same_buffer_and_dict_inputs() -> None:
    x, y = stream(40)
    runs = []
    for _ in range(2):
        buf = ReservoirBuffer(6, seed=4)
        buf.add({"a": x, "b": x[:, :1] * 2}, y)
        runs.append(buf)
    assert runs[0].state() == runs[1].state()
    gen = torch.Generator().manual_seed(0)
    sx, sy = runs[0].sample(4, gen)
    assert isinstance(sx, dict) and set(sx) == {"a", "b"}
    assert len(sy) == 4 and len(set(sy.tolist())) == 4  # without replacement
    torch.testing.assert_close(sx["a"][:, 0], sy.float())
    torch.testing.assert_close(sx["b"][:, 0], 2 * sy.float())
    _, all_y = runs[0].sample(100, gen)  # capped at len
    assert sorted(all_y.tolist()) == sorted(runs[0].state()["ids"])


def test_clear_refills_and_shape_errors() -> None:
    x, y = stream(30)
    buf = ReservoirBuffer(4, seed=0)
    buf.add(x[:20], y[:20])
    buf.clear()
    assert len(buf) == 0 and buf.seen == 0
    buf.add(x[20:24], y[20:24])
    assert buf.state()["ids"] == [20, 21, 22, 23]  # the next capacity rows fill it again
    with pytest.raises(DataError, match="shape"):
        buf.add(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(DataError, match="keys"):
        buf.add({"x": torch.zeros(2, 3)}, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        ReservoirBuffer(3, seed=0).sample(1)


# --- EWC ---------------------------------------------------------------------------------


def tiny_mlp(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(dropout), nn.Linear(6, 3))


def naive_fisher(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, empirical: bool
) -> dict[str, torch.Tensor]:
    """Per sample, per class: autograd.grad of log p, squared, weighted by p (or the label)."""
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    out = [torch.zeros_like(p) for p in params]
    for i in range(len(x)):
        log_p = torch.log_softmax(model(x[i : i + 1])[0], dim=0)
        classes = [int(y[i])] if empirical else list(range(len(log_p)))
        for c in classes:
            weight = 1.0 if empirical else float(log_p[c].detach().exp())
            grads = torch.autograd.grad(log_p[c], params, retain_graph=True)
            for acc, g in zip(out, grads, strict=True):
                acc.add_(weight * g**2)
    return {n: acc / len(x) for n, acc in zip(names, out, strict=True)}


@pytest.mark.parametrize("empirical", [False, True])
@pytest.mark.parametrize("method", ["vmap", "loop"])
def test_fisher_equals_a_naive_per_sample_loop(empirical: bool, method: str) -> None:
    model = tiny_mlp(dropout=0.5).train()  # dropout must be off in the Fisher
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(13, 4, generator=g), torch.randint(0, 3, (13,), generator=g)
    fisher = fisher_diagonal(model, x, y, batch_size=5, empirical=empirical, method=method)  # type: ignore[arg-type]
    assert model.training  # the mode is restored
    expected = naive_fisher(model, x, y, empirical)
    assert set(fisher) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(fisher[name], value, rtol=1e-5, atol=1e-7)


def test_true_and_empirical_fisher_differ_and_subsets() -> None:
    model = tiny_mlp()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(20, 4, generator=g), torch.randint(0, 3, (20,), generator=g)
    true = fisher_diagonal(model, x, y, batch_size=20)
    emp = fisher_diagonal(model, x, y, batch_size=20, empirical=True)
    assert not torch.allclose(true["3.weight"], emp["3.weight"])
    first = fisher_diagonal(model, x, y, batch_size=4, max_samples=6)
    torch.testing.assert_close(
        first["0.weight"], naive_fisher(model, x[:6], y[:6], False)["0.weight"]
    )
    drawn = fisher_diagonal(
        model, x, y, batch_size=4, max_samples=6, generator=torch.Generator().manual_seed(2)
    )
    rows = torch.randperm(20, generator=torch.Generator().manual_seed(2))[:6].sort().values
    expected = naive_fisher(model, x[rows], y[rows], False)
    torch.testing.assert_close(drawn["0.weight"], expected["0.weight"])


def test_fisher_of_dict_inputs_and_frozen_parameters() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 3)
            self.b = nn.Linear(3, 3)

        def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
            out: torch.Tensor = self.a(x["a"]) + self.b(x["b"])
            return out

    torch.manual_seed(0)
    model = TwoInputs()
    model.b.bias.requires_grad_(False)
    g = torch.Generator().manual_seed(3)
    x = {"a": torch.randn(7, 2, generator=g), "b": torch.randn(7, 3, generator=g)}
    y = torch.randint(0, 3, (7,), generator=g)
    via_vmap = fisher_diagonal(model, x, y, batch_size=3, method="vmap")
    via_loop = fisher_diagonal(model, x, y, batch_size=3, method="loop")
    assert set(via_vmap) == {"a.weight", "a.bias", "b.weight"}
    for name in via_vmap:
        torch.testing.assert_close(via_vmap[name], via_loop[name])


def test_fisher_vmaps_a_fivefold_classifier() -> None:
    task = tiny_task("image", n=24)
    name = default_model_name(task)
    spec = MODELS.spec_of(name, build(MODELS.get(name).config_cls, {}, "model"))
    torch.manual_seed(0)
    model = build_model(spec, task)
    x, y = task.train.x, task.train.y
    assert isinstance(x, torch.Tensor)
    via_vmap = fisher_diagonal(model, x[:6], y[:6], batch_size=3, method="vmap")
    via_loop = fisher_diagonal(model, x[:6], y[:6], batch_size=3, method="loop")
    for key, value in via_loop.items():
        torch.testing.assert_close(via_vmap[key], value, rtol=1e-4, atol=1e-8)


def test_ewc_penalty_equals_a_python_loop() -> None:
    model = tiny_mlp()
    anchor = anchor_of(model)
    g = torch.Generator().manual_seed(0)
    fisher = {k: torch.rand(v.shape, generator=g) for k, v in anchor.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g))
    penalty = EWCPenalty(fisher, anchor, strength=3.0)
    value = penalty(model)
    expected = 0.0
    for name, p in model.named_parameters():
        for f, w, a in zip(
            fisher[name].flatten(), p.detach().flatten(), anchor[name].flatten(), strict=True
        ):
            expected += float(f) * (float(w) - float(a)) ** 2
    assert float(value.detach()) == pytest.approx(3.0 / 2 * expected, rel=1e-5)
    torch.autograd.backward(value)  # differentiable
    assert all(p.grad is not None for p in model.parameters())
    assert float(EWCPenalty(fisher, anchor_of(model), 3.0)(model).detach()) == 0.0


def test_merged_penalty_has_the_gradient_of_the_sum() -> None:
    g = torch.Generator().manual_seed(5)
    model = tiny_mlp()
    shapes = {k: v.shape for k, v in model.named_parameters()}

    def random_dict(zero_some: bool = False) -> dict[str, torch.Tensor]:
        out = {k: torch.rand(s, generator=g) for k, s in shapes.items()}
        if zero_some:
            out["3.bias"] = torch.zeros(shapes["3.bias"])
        return out

    penalties = [
        EWCPenalty(random_dict(), random_dict(), 2.0),
        EWCPenalty(random_dict(zero_some=True), random_dict(), 0.5),
    ]
    merged = merge_penalties(penalties)

    def gradient(loss_of: object) -> list[torch.Tensor]:
        model.zero_grad()
        loss = loss_of(model)  # type: ignore[operator]
        torch.autograd.backward(loss)
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    summed = gradient(lambda m: penalties[0](m) + penalties[1](m))
    for a, b in zip(summed, gradient(merged), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_merge_fisher_sum_and_online() -> None:
    old = {"w": torch.tensor([1.0, 2.0])}
    new = {"w": torch.tensor([0.5, 0.5])}
    torch.testing.assert_close(merge_fisher(old, new, mode="sum")["w"], torch.tensor([1.5, 2.5]))
    online = merge_fisher(old, new, mode="online", gamma=0.5)["w"]
    torch.testing.assert_close(online, torch.tensor([1.0, 1.5]))
    with pytest.raises(ConfigError, match="gamma"):
        merge_fisher(old, new, mode="online", gamma=1.5)
    with pytest.raises(ConfigError, match="strength"):
        EWCPenalty(old, old, -1.0)
