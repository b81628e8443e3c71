"""Adversarial training on continuous inputs (``adversarial`` PGD / FGSM-RS and ``trades``).

Checked against invariants (‖δ‖ ≤ eps in L∞ and L2, bounds, one-hot columns fixed, the loss
rises on a trained model), against hand computations (one FGSM-RS step of a linear model, the
eps warm-up ramp) and against a naive float64 TRADES loss written with explicit sums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from support import tiny_task
from torch import nn

from fivefold.attacks.space import attack_boxes
from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import ConfigError
from fivefold.schema import build
from fivefold.seeding import torch_generator
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.adversarial import (
    Trades,
    crafting,
    perturb,
    trades_objective,
    warmup_eps,
)
from fivefold.techniques.adversarial.crafting import EpochClock, kl_to_clean, soft_cross_entropy
from fivefold.techniques.base import check_task
from fivefold.training.config import TrainConfig
from fivefold.training.hooks import Batch, FitContext, FitResult

IMAGE = {"x": ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))}


def _ctx(seed: int = 0, batch_size: int = 16) -> FitContext:
    return FitContext(build(TrainConfig, {"batch_size": batch_size}, "train"), seed)


def _bind(technique: Any, task: Task, ctx: FitContext) -> None:
    """Run the technique's wrap_fit around a fit that does nothing (sets boxes, stream, clock)."""

    def no_fit(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
        return FitResult(model, [], 0, False, 0.0)

    technique.wrap_fit(no_fit)(nn.Identity(), task, ctx)


def _make(name: str, **options: Any) -> Any:
    return TECHNIQUES.spec({"technique": name, **options}, "recipe").instantiate()


def _mlp(d_in: int, n_classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d_in, 16), nn.ReLU(), nn.Linear(16, n_classes))


def _trained_image_mlp(task: Task, steps: int = 150) -> nn.Module:
    model = _mlp(64)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y = task.train.x, task.train.y
    assert isinstance(x, torch.Tensor)
    for _ in range(steps):
        opt.zero_grad()
        torch.autograd.backward(F.cross_entropy(model(x), y))
        opt.step()
    return model.eval()


# --- the eps-ball, the bounds and the masks ------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    eps=st.floats(0.01, 0.6),
    norm=st.sampled_from(["linf", "l2"]),
    steps=st.integers(0, 4),
    alpha_factor=st.floats(0.1, 3.0),
    start=st.sampled_from(["none", "uniform", "normal"]),
    seed=st.integers(0, 1000),
)
def test_perturbation_stays_in_ball_and_bounds(
    eps: float, norm: str, steps: int, alpha_factor: float, start: str, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 8, 8, generator=g)
    x[:, :, :2] = 0.0  # pixels on the bounds
    x[:, :, -2:] = 1.0
    y = torch.randint(0, 3, (6,), generator=g)
    model = _mlp(64, seed=seed % 7)
    with crafting(model, "eval"):
        adv = perturb(
            model,
            x,
            y,
            attack_boxes(IMAGE),
            soft_cross_entropy,
            eps=eps,
            norm=norm,  # type: ignore[arg-type]
            steps=steps,
            alpha=alpha_factor * eps,
            start=start,  # type: ignore[arg-type]
            gen=g,
        )
    assert isinstance(adv, torch.Tensor)
    delta = (adv - x).flatten(1)
    if norm == "linf":
        assert float(delta.abs().max()) <= eps + 1e-6
    else:
        assert float(torch.linalg.vector_norm(delta, dim=1).max()) <= eps * (1 + 1e-5)
    assert float(adv.min()) >= 0.0
    assert float(adv.max()) <= 1.0


@settings(max_examples=15, deadline=None)
@given(norm=st.sampled_from(["linf", "l2"]), seed=st.integers(0, 1000))
def test_tabular_moves_numeric_features_only(norm: str, seed: int) -> None:
    task = tiny_task("tabular", seed=seed % 5)
    tech = _make("adversarial", norm=norm, eps=0.5, steps=3)
    ctx = _ctx(seed)
    _bind(tech, task, ctx)
    x = task.train.x
    assert isinstance(x, torch.Tensor)
    model = _mlp(7)
    out = tech.adapt_batch(Batch(x, task.train.y), model, ctx).x
    assert torch.equal(out[:, 4:], x[:, 4:])  # the one-hot group stays a valid one-hot
    assert not torch.equal(out[:, :4], x[:, :4])
    delta = (out - x)[:, :4]
    bound = delta.abs().amax(1) if norm == "linf" else torch.linalg.vector_norm(delta, dim=1)
    assert float(bound.max()) <= 0.5 * (1 + 1e-5)


@pytest.mark.parametrize(
    "options",
    [
        {"method": "pgd", "steps": 10, "eps": 0.3},
        {"method": "fgsm", "eps": 0.3},
        {"method": "pgd", "steps": 10, "norm": "l2", "eps": 3.0},
    ],
)
def test_adversarial_examples_raise_the_loss_of_a_trained_model(options: dict[str, Any]) -> None:
    task = tiny_task("image", n=240)
    model = _trained_image_mlp(task)
    tech = _make("adversarial", **options)
    ctx = _ctx()
    _bind(tech, task, ctx)
    x, y = task.test.x, task.test.y
    assert isinstance(x, torch.Tensor)
    adv = tech.adapt_batch(Batch(x, y), model, ctx).x
    with torch.no_grad():
        clean_loss = F.cross_entropy(model(x), y, reduction="none")
        adv_loss = F.cross_entropy(model(adv), y, reduction="none")
    assert float(adv_loss.mean()) > float(clean_loss.mean()) + 0.5
    assert float((adv_loss >= clean_loss).float().mean()) >= 0.9


def test_trades_inner_maximisation_raises_the_kl() -> None:
    task = tiny_task("image", n=240)
    model = _trained_image_mlp(task)
    tech = _make("trades", steps=10, eps=0.3)
    ctx = _ctx()
    _bind(tech, task, ctx)
    x = task.test.x
    assert isinstance(x, torch.Tensor)
    x_adv = tech.adversary(model, x, ctx)
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)
        start = (x + 1e-3 * torch.randn(x.shape, generator=torch.Generator())).clamp(0, 1)
        kl_start = kl_to_clean(model(start), p).mean()
        kl_adv = kl_to_clean(model(x_adv), p).mean()
    assert float((x_adv - x).abs().max()) <= 0.3 + 1e-6
    assert float(kl_adv) > 100 * float(kl_start)


# --- hand computations and a naive reference -----------------------------------------------


def test_fgsm_rs_step_matches_hand_computation_on_a_linear_model() -> None:
    g = torch.Generator().manual_seed(5)
    n, d, c, eps, seed = 7, 8, 3, 0.1, 11
    x = torch.rand(n, d, generator=g)
    y = torch.randint(0, c, (n,), generator=g)
    w, b = torch.randn(c, d, generator=g), torch.randn(c, generator=g)
    model = nn.Linear(d, c)
    with torch.no_grad():
        model.weight.copy_(w)
        model.bias.copy_(b)
    info = {"x": ModalityInfo("tabular", (d,), bounds=(0.0, 1.0))}
    task = Task("lin", {"train": Split(x, y)}, info, ("a", "b", "c"))
    tech = _make("adversarial", method="fgsm", eps=eps)
    ctx = _ctx(seed)
    _bind(tech, task, ctx)
    got = tech.adapt_batch(Batch(x, y), model, ctx).x

    # by hand: uniform start in the box, then x_adv = clip(x + clip(δ0 + 1.25·eps·sign(∇), eps))
    stream = torch_generator(seed, "adversarial")
    start = (x + (torch.rand(n, d, generator=stream) * 2 - 1) * eps).clamp(0, 1)
    p = torch.softmax(start @ w.T + b, dim=1)
    grad = (p - F.one_hot(y, c).float()) @ w  # d CE / d x of a linear model
    delta = (start - x + 1.25 * eps * grad.sign()).clamp(-eps, eps)
    expected = (x + delta).clamp(0, 1)
    assert torch.allclose(got, expected, atol=1e-6)


def _naive_trades(
    logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float
) -> torch.Tensor:
    """Per-sample sums written out: CE_i = log Σ exp z − z_y; KL_i = Σ p (log p − log q)."""
    total = torch.zeros((), dtype=torch.float64)
    n, c = logits.shape
    for i in range(n):
        z, za = logits[i].double(), logits_adv[i].double()
        log_norm = torch.log(sum(torch.exp(z[j]) for j in range(c)))
        log_norm_adv = torch.log(sum(torch.exp(za[j]) for j in range(c)))
        ce = log_norm - z[y[i]]
        kl = sum(
            torch.exp(z[j] - log_norm) * ((z[j] - log_norm) - (za[j] - log_norm_adv))
            for j in range(c)
        )
        total = total + ce + beta * kl
    return total / n


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.0, 10.0))
def test_trades_objective_matches_naive(seed: int, beta: float) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(5, 4, generator=g)).requires_grad_(True)
    logits_adv = (3 * torch.randn(5, 4, generator=g)).requires_grad_(True)
    y = torch.randint(0, 4, (5,), generator=g)
    ours = trades_objective(logits, logits_adv, y, beta)
    naive = _naive_trades(logits, logits_adv, y, beta)
    assert math.isclose(float(ours.detach()), float(naive.detach()), rel_tol=1e-5, abs_tol=1e-5)
    g_ours = torch.autograd.grad(ours, [logits, logits_adv])
    g_naive = torch.autograd.grad(naive, [logits, logits_adv])
    for a, b in zip(g_ours, g_naive, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_trades_technique_loss_is_trades_at_its_adversary() -> None:
    task = tiny_task("image", n=96)
    model = _trained_image_mlp(task, steps=30).train()
    x, y = task.train.x, task.train.y
    assert isinstance(x, torch.Tensor)
    techs = [_make("trades", beta=3.0, steps=3) for _ in range(2)]
    ctxs = [_ctx(seed=4) for _ in range(2)]
    for tech, ctx in zip(techs, ctxs, strict=True):
        _bind(tech, task, ctx)
    x_adv = techs[0].adversary(model, x, ctxs[0])  # the same stream → the same adversary
    out = techs[1].loss(model, Batch(x, y), ctxs[1])
    naive = _naive_trades(model(x), model(x_adv), y, 3.0)
    assert math.isclose(float(out.loss.detach()), float(naive.detach()), rel_tol=1e-5)


# --- the eps warm-up ------------------------------------------------------------------------


def test_warmup_eps_values() -> None:
    assert warmup_eps(0.3, 2.0, 0.5) == pytest.approx(0.075)
    assert warmup_eps(0.3, 2.0, 1.0) == pytest.approx(0.15)
    assert warmup_eps(0.3, 2.0, 2.0) == pytest.approx(0.3)
    assert warmup_eps(0.3, 2.0, 7.0) == pytest.approx(0.3)
    assert warmup_eps(0.3, 0.0, 0.1) == 0.3


@given(
    eps=st.floats(0.001, 1.0),
    warmup=st.floats(0.1, 10.0),
    a=st.floats(0.0, 20.0),
    b=st.floats(0.0, 20.0),
)
def test_warmup_eps_is_a_monotone_ramp(eps: float, warmup: float, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert warmup_eps(eps, warmup, lo) <= warmup_eps(eps, warmup, hi) + 1e-12
    assert 0.0 <= warmup_eps(eps, warmup, hi) <= eps + 1e-12
    if hi <= warmup:
        assert warmup_eps(eps, warmup, hi) == pytest.approx(eps * hi / warmup)


def test_epoch_clock_follows_the_loop() -> None:
    clock = EpochClock()
    clock.start(n_train=40, batch_size=16)  # 3 steps per epoch
    seen, step = [], 100  # the context's step counter need not start at 0
    for epoch in range(3):
        for _ in range(3):
            seen.append(clock.progress(epoch, step))
            step += 1
    assert seen == pytest.approx([(i + 1) / 3 for i in range(9)])


def test_warmup_limits_the_perturbation_used_in_training() -> None:
    task = tiny_task("image")  # 48 training samples: 3 steps of 16 per epoch
    tech = _make("adversarial", eps=0.3, warmup_epochs=2.0, steps=3)
    ctx = _ctx(batch_size=16)
    _bind(tech, task, ctx)
    model = _mlp(64)
    x, y = task.train.x[:16], task.train.y[:16]
    assert isinstance(x, torch.Tensor)
    for step, expected in enumerate([0.05, 0.1, 0.15]):  # 0.3 · (step + 1) / 3 / 2
        ctx.step = step
        out = tech.adapt_batch(Batch(x, y), model, ctx).x
        assert float((out - x).abs().max()) <= expected + 1e-6
        assert float((out - x).abs().max()) > 0.8 * expected  # PGD reaches the radius


# --- the training state is left as it was ---------------------------------------------------


class _BNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.frozen = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        out: torch.Tensor = self.head(self.drop(self.frozen(h)))
        return out


def _state(model: nn.Module) -> tuple[list[bool], list[bool], list[torch.Tensor]]:
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [b.clone() for b in model.buffers()],
    )


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize(
    "make",
    [
        lambda m: _make("adversarial", craft_mode=m, steps=3),
        lambda m: _make("adversarial", craft_mode=m, method="fgsm", adversarial_fraction=0.5),
        lambda m: _make("trades", craft_mode=m, steps=3),
    ],
)
def test_crafting_leaves_no_gradients_and_restores_modes(
    mode: str, make: Callable[[str], Any]
) -> None:
    task = tiny_task("image")
    tech = make(mode)
    ctx = _ctx()
    _bind(tech, task, ctx)
    model = _BNNet().train()
    model.frozen.eval()  # a submodule another technique keeps in eval mode
    model.frozen.weight.requires_grad_(False)
    before = _state(model)
    batch = Batch(task.train.x[:16], task.train.y[:16])
    if isinstance(tech, Trades):
        tech.adversary(model, batch.x, ctx)
    else:
        tech.adapt_batch(batch, model, ctx)
    after = _state(model)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert all(torch.equal(a, b) for a, b in zip(after[2], before[2], strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_crafting_modes_differ_for_batch_norm() -> None:
    model = _BNNet().train()
    x = torch.rand(8, 1, 8, 8)
    with crafting(model, "eval") as m:
        assert not m.bn.training
        eval_out = m(x)
    with crafting(model, "train") as m:
        assert m.bn.training
        train_out = m(x)
        assert not any(p.requires_grad for p in m.parameters())
    assert not torch.allclose(eval_out, train_out)


def test_mixing_ratio_replaces_that_share_of_the_batch() -> None:
    task = tiny_task("image")
    tech = _make("adversarial", adversarial_fraction=0.25, steps=2)
    ctx = _ctx()
    _bind(tech, task, ctx)
    x = task.train.x
    assert isinstance(x, torch.Tensor)
    keep = x.clone()
    out = tech.adapt_batch(Batch(x, task.train.y), _mlp(64), ctx).x
    changed = (out != x).flatten(1).any(1)
    assert int(changed.sum()) == round(0.25 * len(x))
    assert torch.equal(x, keep)  # the task's tensor is untouched


# --- modalities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"), [("adversarial", "text"), ("trades", "text"), ("freelb", "image")]
)
def test_unsupported_modality_is_rejected(name: str, kind: str) -> None:
    spec = TECHNIQUES.spec({"technique": name}, "recipes.r[0]")
    with pytest.raises(ConfigError, match=f"{name!r} does not support {kind} inputs"):
        check_task("r", [spec], tiny_task(kind))


def test_multi_input_batches_move_every_float_input_within_one_joint_ball() -> None:
    g = torch.Generator().manual_seed(0)
    x = {"a": torch.rand(16, 2, 10, generator=g), "b": torch.rand(16, 3, generator=g)}
    info = {
        "a": ModalityInfo("sequence", (2, 10), bounds=(0.0, 1.0)),
        "b": ModalityInfo("tabular", (3,)),  # unbounded: eps is absolute, no clamping
    }
    task = Task("two", {"train": Split(x, torch.zeros(16).long())}, info, ("p", "q"))
    tech = _make("adversarial", norm="l2", eps=0.4, steps=3, adversarial_fraction=0.5)
    ctx = _ctx()
    _bind(tech, task, ctx)

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(23, 2)

        def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            out: torch.Tensor = self.lin(torch.cat([inputs["a"].flatten(1), inputs["b"]], 1))
            return out

    y = torch.randint(0, 2, (16,), generator=g)
    out = tech.adapt_batch(Batch(x, y), TwoInputs(), ctx).x
    assert isinstance(out, dict)
    delta = torch.cat([(out["a"] - x["a"]).flatten(1), out["b"] - x["b"]], dim=1)
    norms = torch.linalg.vector_norm(delta, dim=1)
    assert float(norms.max()) <= 0.4 * (1 + 1e-5)
    assert int((norms > 0).sum()) == 8
    assert float(out["a"].min()) >= 0.0 and float(out["a"].max()) <= 1.0


@pytest.mark.parametrize(
    ("name", "options", "alpha"),
    [
        ("adversarial", {"method": "fgsm", "eps": 0.2}, 1.25 * 0.2),  # Wong et al.
        ("adversarial", {"method": "pgd", "eps": 0.2, "steps": 4}, 2.5 * 0.2 / 4),  # Madry
        ("adversarial", {"eps": 0.2, "steps": 4, "step_size": 0.1}, 0.1 * 0.2),
        ("trades", {"eps": 0.2, "steps": 5}, 2.5 * 0.2 / 5),
    ],
)
def test_step_lengths_recorded_in_the_results(
    name: str, options: dict[str, Any], alpha: float
) -> None:
    tech = _make(name, **options)
    ctx = _ctx()
    _bind(tech, tiny_task("image"), ctx)
    assert ctx.extras[name]["alpha"] == pytest.approx(alpha)
    assert ctx.extras[name]["eps"] == pytest.approx(0.2)
