"""MAML, first-order MAML and Reptile against hand-written autograd, finite differences and
each other; vmap against the loop; batch norm, dropout and head slicing on the default models."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from support import tiny_task
from torch import nn

from fivefold.errors import ConfigError
from fivefold.models.cnn import CNNConfig, build_cnn
from fivefold.models.mlp import MLPConfig, build_mlp
from fivefold.techniques.adaptive.meta.episodes import Episode, EpisodeSampler
from fivefold.techniques.adaptive.meta.learners import (
    BatchStatNorm,
    CompositeLayerNorm,
    InstanceStatNorm,
    MetaLearner,
    Params,
    inner_adapt,
)

ALPHA = 0.3  # inner step: large enough that the second-order term matters


def _tiny(dtype: torch.dtype = torch.float64, seed: int = 0) -> nn.Sequential:
    """3 → 4 → 3 tanh net; with ways=2 only its first two logits count."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).to(dtype)


def _batch(e: int = 2, dtype: torch.dtype = torch.float64, seed: int = 1) -> Episode:
    """e random 2-way episodes with 4 support and 6 query rows of 3 features."""
    g = torch.Generator().manual_seed(seed)
    return Episode(
        torch.randn(e, 4, 3, generator=g, dtype=dtype),
        torch.tensor([0, 0, 1, 1]).repeat(e, 1),
        torch.randn(e, 6, 3, generator=g, dtype=dtype),
        torch.tensor([0, 0, 0, 1, 1, 1]).repeat(e, 1),
        torch.tensor([[3, 7]]).repeat(e, 1),
    )


def _ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out[..., :2], y)


def _manual_sgd(
    model: nn.Module,
    params: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    create_graph: bool,
) -> list[torch.Tensor]:
    """``steps`` SGD steps written with torch.autograd.grad on the tiny net (no torch.func)."""
    lin1, lin2 = model[0], model[2]
    assert isinstance(lin1, nn.Linear) and isinstance(lin2, nn.Linear)
    for _ in range(steps):
        w1, b1, w2, b2 = params
        loss = _ce(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)
        grads = torch.autograd.grad(loss, params, create_graph=create_graph)
        params = [p - ALPHA * g for p, g in zip(params, grads, strict=True)]
    return params


def _query_loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2 = params
    return _ce(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)


def _named(model: nn.Module) -> Params:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("steps", [1, 2])
def test_inner_step_equals_manual_autograd(steps: int) -> None:
    model, batch = _tiny(), _batch()
    theta = _named(model)
    x, y = batch.support_x[0], batch.support_y[0]
    adapted = inner_adapt(
        model, theta, {}, x, y, steps=steps, lr=ALPHA, loss_fn=_ce, first_order=True
    )
    start = [p.clone().requires_grad_() for p in theta.values()]
    manual = _manual_sgd(model, start, x, y, steps, create_graph=False)
    for got, want in zip(adapted.values(), manual, strict=True):
        torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)


def _meta_objective(
    model: nn.Module, flat: list[torch.Tensor], batch: Episode, steps: int
) -> float:
    """Mean post-adaptation query loss, by hand, for finite differences."""
    total = 0.0
    for i in range(len(batch)):
        start = [p.clone().requires_grad_() for p in flat]
        adapted = _manual_sgd(model, start, batch.support_x[i], batch.support_y[i], steps, False)
        total += float(_query_loss(adapted, batch.query_x[i], batch.query_y[i]).detach())
    return total / len(batch)


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_meta_gradient_matches_finite_differences(steps: int) -> None:
    model, batch = _tiny(), _batch()
    learner = MetaLearner(model, method="maml", ways=2, inner_lr=ALPHA, inner_steps=steps)
    grads, _ = learner.meta_gradient(batch)
    theta = [p.detach().clone() for p in model.parameters()]
    h = 1e-6
    for k, (name, g) in enumerate(grads.items()):
        numeric = torch.zeros_like(g)
        for j in range(g.numel()):
            plus, minus = [t.clone() for t in theta], [t.clone() for t in theta]
            plus[k].view(-1)[j] += h
            minus[k].view(-1)[j] -= h
            up = _meta_objective(model, plus, batch, steps)
            down = _meta_objective(model, minus, batch, steps)
            numeric.view(-1)[j] = (up - down) / (2 * h)
        torch.testing.assert_close(g, numeric, rtol=1e-6, atol=1e-8, msg=name)


def test_fomaml_is_the_query_gradient_at_the_adapted_params() -> None:
    model, batch = _tiny(), _batch()
    fomaml = MetaLearner(model, method="fomaml", ways=2, inner_lr=ALPHA, inner_steps=2)
    maml = MetaLearner(model, method="maml", ways=2, inner_lr=ALPHA, inner_steps=2)
    got, loss_fo = fomaml.meta_gradient(batch)
    second, loss_so = maml.meta_gradient(batch)
    want = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(len(batch)):
        start = [p.detach().clone().requires_grad_() for p in model.parameters()]
        adapted = _manual_sgd(model, start, batch.support_x[i], batch.support_y[i], 2, False)
        adapted = [a.detach().requires_grad_() for a in adapted]  # stop-gradient
        q = torch.autograd.grad(_query_loss(adapted, batch.query_x[i], batch.query_y[i]), adapted)
        want = [w + qi / len(batch) for w, qi in zip(want, q, strict=True)]
    for g, w in zip(got.values(), want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert loss_fo == pytest.approx(loss_so)  # same forward, different gradient
    gap = max(
        float((a - b).abs().max()) for a, b in zip(got.values(), second.values(), strict=True)
    )
    assert gap > 1e-3  # the Hessian term is not negligible on a nonlinear model


def test_reptile_update_equals_manual() -> None:
    model, batch = _tiny(), _batch(e=3)
    eps = 0.5
    learner = MetaLearner(
        model, method="reptile", ways=2, inner_lr=ALPHA, inner_steps=2, reptile_step=eps
    )
    theta = [p.detach().clone() for p in model.parameters()]
    phis = []
    for i in range(len(batch)):
        x = torch.cat([batch.support_x[i], batch.query_x[i]])
        y = torch.cat([batch.support_y[i], batch.query_y[i]])
        start = [t.clone().requires_grad_() for t in theta]
        phis.append([p.detach() for p in _manual_sgd(model, start, x, y, 2, False)])
    before = np.mean(
        [float(_query_loss(theta, batch.query_x[i], batch.query_y[i])) for i in range(3)]
    )
    value = learner.meta_step(batch)
    assert value == pytest.approx(before)
    for k, (t, new) in enumerate(zip(theta, learner.model.parameters(), strict=True)):
        mean_phi = torch.stack([phi[k] for phi in phis]).mean(0)
        torch.testing.assert_close(new.detach(), t + eps * (mean_phi - t), rtol=1e-10, atol=1e-12)


def _norm_net(norm: str) -> nn.Sequential:
    """conv → norm (affine) → relu → linear on (B, 1, 4, 4) inputs, float64."""
    layers = {
        "batch2d": lambda: nn.BatchNorm2d(3),
        "instance2d": lambda: nn.InstanceNorm2d(3, affine=True),
        "layer": lambda: nn.LayerNorm([3, 4, 4]),
        "group": lambda: nn.GroupNorm(1, 3),
    }
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 3, 3, padding=1, bias=False)
    return nn.Sequential(conv, layers[norm](), nn.ReLU(), nn.Flatten(), nn.Linear(48, 3)).double()


def _native_objective(model: nn.Module, theta: Params, batch: Episode) -> float:
    """Mean query loss after one SGD step, with torch's own (fused) norm layers and
    torch.autograd.grad; batch norm uses batch statistics (train mode, no running stats)."""
    total = 0.0
    for i in range(len(batch)):
        params = {n: v.clone().requires_grad_() for n, v in theta.items()}
        support = torch.func.functional_call(model, params, (batch.support_x[i],))
        grads = torch.autograd.grad(_ce(support, batch.support_y[i]), list(params.values()))
        adapted = {n: v - ALPHA * g for (n, v), g in zip(params.items(), grads, strict=True)}
        query = torch.func.functional_call(model, adapted, (batch.query_x[i],))
        total += float(_ce(query, batch.query_y[i]).detach())
    return total / len(batch)


@pytest.mark.parametrize("norm", ["batch2d", "instance2d", "layer", "group"])
def test_maml_through_norm_layers_matches_finite_differences(norm: str) -> None:
    """vmap of second-order gradients through normalisation layers is exact (torch's fused
    kernels are not: pytorch/functorch#534), checked against the fused layers themselves."""
    model = _norm_net(norm)
    native = copy.deepcopy(model)
    for m in native.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    g = torch.Generator().manual_seed(2)
    labels = torch.tensor([0, 0, 1, 1]).repeat(2, 1)
    batch = Episode(
        torch.randn(2, 4, 1, 4, 4, generator=g, dtype=torch.float64),
        labels,
        torch.randn(2, 4, 1, 4, 4, generator=g, dtype=torch.float64),
        labels,
        torch.tensor([[0, 1], [0, 1]]),
    )
    learner = MetaLearner(model, ways=2, inner_lr=ALPHA, batching="vmap")
    grads, _ = learner.meta_gradient(batch)
    theta, h = _named(model), 1e-6
    for name in ("0.weight", "1.weight"):
        numeric = torch.zeros_like(theta[name])
        for j in range(numeric.numel()):
            plus = {n: v.clone() for n, v in theta.items()}
            minus = {n: v.clone() for n, v in theta.items()}
            plus[name].view(-1)[j] += h
            minus[name].view(-1)[j] -= h
            up, down = (
                _native_objective(native, plus, batch),
                _native_objective(native, minus, batch),
            )
            numeric.view(-1)[j] = (up - down) / (2 * h)
        torch.testing.assert_close(grads[name], numeric, rtol=1e-5, atol=1e-8, msg=name)


def test_composite_norms_equal_torch() -> None:
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    bn, inorm, ln = nn.BatchNorm2d(3), nn.InstanceNorm2d(3, affine=True), nn.LayerNorm([4, 4])
    for layer in (bn, inorm, ln):
        with torch.no_grad():
            for p in layer.parameters():
                p.uniform_(0.5, 1.5)
    bn, inorm, ln = bn.double(), inorm.double(), ln.double()
    want_bn = F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    torch.testing.assert_close(BatchStatNorm(bn)(x), want_bn)
    torch.testing.assert_close(InstanceStatNorm(inorm)(x), inorm(x))
    torch.testing.assert_close(CompositeLayerNorm(ln)(x), ln(x))


def _image_sampler(ways: int = 3, seed: int = 0) -> tuple[EpisodeSampler, nn.Module]:
    task = tiny_task("image", n=60)
    model = build_cnn(CNNConfig(), task)  # the default CNN: BatchNorm2d after every conv
    assert isinstance(task.train.x, torch.Tensor)
    sampler = EpisodeSampler(
        task.train.x, task.train.y, range(3), ways=ways, shots=2, queries=3, seed=seed
    )
    return sampler, model


def _tabular_sampler() -> tuple[EpisodeSampler, nn.Module]:
    task = tiny_task("tabular", n=60)
    model = build_mlp(MLPConfig(hidden=(16, 16), norm="batch", dropout=0.3), task)
    assert isinstance(task.train.x, torch.Tensor)
    return EpisodeSampler(
        task.train.x, task.train.y, range(3), ways=3, shots=2, queries=3, seed=0
    ), model


def _double(batch: Episode) -> Episode:
    return Episode(
        batch.support_x.double(),
        batch.support_y,
        batch.query_x.double(),
        batch.query_y,
        batch.classes,
    )


@pytest.mark.parametrize("method", ["maml", "fomaml", "reptile"])
@pytest.mark.parametrize("make", [_image_sampler, _tabular_sampler], ids=["cnn", "mlp"])
def test_vmap_equals_loop(
    method: str, make: Callable[[], tuple[EpisodeSampler, nn.Module]]
) -> None:
    sampler, model = make()
    model = model.double()  # float64, so that Adam's normalised steps agree to 1e-9
    batches = [_double(sampler.sample_batch(3)) for _ in range(2)]
    learners = {
        b: MetaLearner(model, method=method, ways=3, inner_lr=0.1, inner_steps=2, batching=b)  # type: ignore[arg-type]
        for b in ("vmap", "loop")
    }
    losses = {b: [learner.meta_step(x) for x in batches] for b, learner in learners.items()}
    assert learners["vmap"].vectorized and not learners["loop"].vectorized
    np.testing.assert_allclose(losses["vmap"], losses["loop"], rtol=1e-8)
    for a, b in zip(
        learners["vmap"].model.parameters(), learners["loop"].model.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(
        learners["vmap"].evaluate(batches[0], steps=3),
        learners["loop"].evaluate(batches[0], steps=3),
    )


def test_batch_norm_cnn_meta_step_and_model_ownership() -> None:
    sampler, model = _image_sampler()
    before = copy.deepcopy(model.state_dict())
    learner = MetaLearner(model, method="maml", ways=3, inner_lr=0.1, inner_steps=1)
    loss = learner.meta_step(sampler.sample_batch(2))
    assert np.isfinite(loss) and learner.vectorized
    # the caller's model is untouched (weights and running statistics); the copy has none
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not any("running" in name for name, _ in learner.model.named_buffers())
    stats = ("running_mean", "running_var", "num_batches_tracked")
    assert set(learner.model.state_dict()) == {k for k in before if not k.endswith(stats)}
    changed = [
        not torch.equal(p, before[n]) for n, p in learner.model.named_parameters() if n in before
    ]
    assert any(changed)


def test_frozen_parameters_are_not_meta_learned() -> None:
    model, batch = _tiny(), _batch()
    model[0].requires_grad_(False)
    learner = MetaLearner(model, ways=2, inner_lr=ALPHA, meta_lr=0.1)
    learner.meta_step(batch)
    assert set(learner.params()) == {"2.weight", "2.bias"}
    assert torch.equal(learner.model[0].weight, model[0].weight)
    assert not torch.equal(learner.model[2].weight, model[2].weight)
    assert learner.vectorized


def test_dropout_is_off_in_the_functional_passes() -> None:
    sampler, model = _tabular_sampler()
    batch = sampler.sample_batch(2)
    a = MetaLearner(model, ways=3, seed=0).meta_gradient(batch)[1]
    b = MetaLearner(model, ways=3, seed=99).meta_gradient(batch)[1]
    assert a == b


def test_head_slicing_uses_the_first_ways_logits() -> None:
    model, batch = _tiny(), _batch()
    learner = MetaLearner(model, ways=2, inner_lr=ALPHA, inner_steps=1)
    adapted = learner.adapt(batch.support_x[0], batch.support_y[0], steps=0)
    logits = torch.func.functional_call(learner.model, adapted, (batch.query_x[0],))
    want = float((logits[:, :2].argmax(-1) == batch.query_y[0]).double().mean())
    assert learner.evaluate(batch, steps=0)[0] == pytest.approx(want)
    with pytest.raises(ConfigError, match="ways=5") as err:
        MetaLearner(model, ways=5).meta_step(_batch())
    assert "\n" not in str(err.value)


def test_adapt_matches_inner_adapt_and_evaluate_range() -> None:
    model, batch = _tiny(), _batch(e=4)
    learner = MetaLearner(model, ways=2, inner_lr=ALPHA, inner_steps=2)
    got = learner.adapt(batch.support_x[1], batch.support_y[1])
    want = inner_adapt(
        model,
        _named(model),
        {},
        batch.support_x[1],
        batch.support_y[1],
        steps=2,
        lr=ALPHA,
        loss_fn=_ce,
        first_order=True,
    )
    for name in want:
        torch.testing.assert_close(got[name], want[name])
    scores = learner.evaluate(batch.unbatch())
    assert scores.shape == (4,) and ((scores >= 0) & (scores <= 1)).all()


class _Branchy(nn.Module):
    """A net with data-dependent control flow, which vmap cannot batch."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(x)
        return out * 2 if x.sum() > -1e9 else out


def test_fallback_loop_when_vmap_fails() -> None:
    torch.manual_seed(0)
    model, batch = _Branchy(), _batch()
    auto = MetaLearner(model, ways=2, inner_lr=ALPHA)
    loop = MetaLearner(model, ways=2, inner_lr=ALPHA, batching="loop")
    assert auto.meta_step(batch) == pytest.approx(loop.meta_step(batch))
    assert not auto.vectorized
    for a, b in zip(auto.model.parameters(), loop.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError):
        MetaLearner(model, ways=2, batching="vmap").meta_step(batch)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"method": "protonet"}, "method"),
        ({"loss": "hinge"}, "loss"),
        ({"inner_lr": 0.0}, "inner_lr"),
        ({"inner_steps": 0}, "inner_steps"),
        ({"reptile_step": -1.0}, "reptile_step"),
    ],
)
def test_bad_options(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ConfigError, match=word) as err:
        MetaLearner(_tiny(), ways=2, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_meta_step_needs_a_batch() -> None:
    with pytest.raises(ConfigError, match="sample_batch"):
        MetaLearner(_tiny(), ways=2).meta_step(_batch().unbatch()[0])


def test_maml_learns_few_shot_classification() -> None:
    """Classes differ in 4 of 32 features (the rest is noise): after 150 meta-steps, one inner
    step on 1-shot supports of new classes separates them far better than the same step from
    the initial weights."""
    g = torch.Generator().manual_seed(0)
    centres = 2 * F.normalize(torch.randn(20, 4, generator=g), dim=1)
    y = torch.arange(20).repeat(30)
    signal = centres[y] + 0.2 * torch.randn(len(y), 4, generator=g)
    x = torch.cat([signal, torch.randn(len(y), 28, generator=g)], dim=1)
    train = EpisodeSampler(x, y, range(12), ways=3, shots=1, queries=5, seed=0)
    test = EpisodeSampler(x, y, range(12, 20), ways=3, shots=1, queries=5, seed=1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    learner = MetaLearner(model, ways=3, inner_lr=0.5, inner_steps=1, meta_lr=3e-3, meta_batch=4)
    episodes = test.sample_batch(40)
    start = learner.evaluate(episodes).mean()
    learner.fit(train.sample_batch, 150)
    assert learner.evaluate(episodes).mean() > start + 0.15
