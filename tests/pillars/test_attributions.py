"""Batched attributions agree with captum (the oracle) and satisfy IG's completeness axiom."""

from __future__ import annotations

import pytest
import torch
from captum.attr import (
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    LayerIntegratedGradients,
    Saliency,
)
from torch import nn

from fivefold.pillars.interpretability.attributions import (
    convergence_delta,
    gradient_shap,
    input_x_gradient,
    integrated_gradients,
    quadrature,
    saliency,
)
from fivefold.training.forwards import DictForward, EmbeddingForward, find_embedding, inference_copy

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(8)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), bn, nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10),
    )  # fmt: skip
    bn.running_mean = torch.linspace(-0.2, 0.2, 8)  # non-trivial statistics
    bn.running_var = torch.linspace(0.5, 2.0, 8)
    return model.eval()


def small_mlp(act: type[nn.Module] = nn.ReLU) -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), act(), nn.Linear(32, 32), act(), nn.Linear(32, 10)
    ).eval()


def images(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2))


TARGET = torch.tensor([0, 3, 5, 9, 1, 2])


@pytest.mark.parametrize("make", [small_cnn, small_mlp], ids=["cnn", "mlp"])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_ig_equals_captum(make: type[nn.Module], method: str) -> None:
    model, x, base = make(), images(), torch.full((1, 1, 8, 8), 0.1)
    (ours,) = integrated_gradients(model, (x,), (base,), TARGET, n_steps=50, method=method)  # type: ignore[arg-type]
    theirs = IntegratedGradients(model).attribute(x, base, target=TARGET, n_steps=50, method=method)
    assert ours.shape == x.shape
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=0)


def test_ig_chunking_does_not_change_the_result() -> None:
    model, x, base = small_cnn(), images(), torch.zeros(1, 1, 8, 8)
    (whole,) = integrated_gradients(model, (x,), (base,), TARGET, n_steps=20)
    (chunked,) = integrated_gradients(model, (x,), (base,), TARGET, n_steps=20, max_rows=45)
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_quadrature_follows_captum() -> None:
    alphas, weights = quadrature(50, "gausslegendre")
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert alphas.min() > 0 and alphas.max() < 1
    alphas, weights = quadrature(50, "riemann_trapezoid")  # captum: steps of 1/n, halved ends
    assert weights.sum().item() == pytest.approx(1 - 1 / 50, abs=1e-6)
    assert alphas[0] == 0 and alphas[-1] == 1


def test_ig_completeness_on_a_smooth_model() -> None:
    model, x, base = small_mlp(nn.Tanh), images(), torch.zeros(1, 1, 8, 8)
    attrs = integrated_gradients(model, (x,), (base,), TARGET, n_steps=50)
    delta = convergence_delta(model, (x,), (base,), attrs, TARGET)
    gap = (model(x) - model(base.expand_as(x))).gather(1, TARGET[:, None])[:, 0]
    assert (delta.abs() / gap.abs().clamp(min=1e-3)).max() < 1e-2
    _, captum_delta = IntegratedGradients(model).attribute(
        x, base, target=TARGET, n_steps=50, return_convergence_delta=True
    )
    assert torch.allclose(delta, captum_delta, atol=1e-4)


def test_ig_is_exact_for_a_linear_model() -> None:
    torch.manual_seed(3)
    linear = nn.Linear(64, 10)
    model = nn.Sequential(nn.Flatten(), linear).eval()
    x, base = images(), torch.rand(1, 1, 8, 8)
    (attr,) = integrated_gradients(model, (x,), (base,), TARGET, n_steps=7)
    weight = linear.weight[TARGET].view(-1, 1, 8, 8)
    assert torch.allclose(attr, (x - base) * weight, atol=1e-6)
    assert convergence_delta(model, (x,), (base,), (attr,), TARGET).abs().max() < 1e-5


@pytest.mark.parametrize("make", [small_cnn, small_mlp], ids=["cnn", "mlp"])
def test_saliency_and_input_x_gradient_equal_captum(make: type[nn.Module]) -> None:
    model, x = make(), images()
    (ours,) = saliency(model, (x,), TARGET)
    assert torch.allclose(ours, Saliency(model).attribute(x, target=TARGET))
    (signed,) = saliency(model, (x,), TARGET, absolute=False)
    assert torch.allclose(signed, Saliency(model).attribute(x, target=TARGET, abs=False))
    (ixg,) = input_x_gradient(model, (x,), TARGET)
    assert torch.allclose(ixg, InputXGradient(model).attribute(x, target=TARGET))


def test_gradient_shap_is_exact_on_a_linear_model_with_one_baseline() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    x, base = images(), torch.rand(1, 1, 8, 8)
    gen = torch.Generator().manual_seed(0)
    (ours,) = gradient_shap(model, (x,), (base,), TARGET, n_samples=5, generator=gen)
    theirs = GradientShap(model).attribute(x, base, target=TARGET, n_samples=5)
    assert torch.allclose(ours, theirs, atol=1e-6)
    delta = convergence_delta(model, (x,), (base,), (ours,), TARGET)
    assert delta.abs().max() < 1e-5


def test_gradient_shap_agrees_with_captum_in_expectation() -> None:
    model, x = small_mlp(nn.Tanh), images(4)
    dist = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(1)
    n, sd = 3000, 0.05
    (ours,) = gradient_shap(model, (x,), (dist,), TARGET[:4], generator=gen, n_samples=n, stdevs=sd)
    torch.manual_seed(0)
    theirs = GradientShap(model).attribute(x, dist, target=TARGET[:4], n_samples=n, stdevs=sd)
    # both are Monte-Carlo estimates of one expectation: compare per-sample totals and maps
    assert torch.allclose(ours.flatten(1).sum(1), theirs.flatten(1).sum(1), atol=0.05)
    assert (ours - theirs).abs().max() < 0.1 * theirs.abs().max()


def test_gradient_shap_is_seeded() -> None:
    model, x, dist = small_mlp(), images(), torch.rand(4, 1, 8, 8)
    runs = [
        gradient_shap(model, (x,), (dist,), TARGET, generator=torch.Generator().manual_seed(7))
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0])


class TinyText(nn.Module):
    """Embedding → masked mean → tanh layer → logits (padding id 0)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.embed = nn.Embedding(20, 8, padding_idx=0)
        self.hidden = nn.Linear(8, 16)
        self.out = nn.Linear(16, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != 0).float().unsqueeze(-1)  # (B, L, 1)
        pooled = (self.embed(ids) * keep).sum(1) / keep.sum(1).clamp(min=1)
        logits: torch.Tensor = self.out(torch.tanh(self.hidden(pooled)))
        return logits


def text_ids() -> torch.Tensor:
    return torch.tensor([[3, 5, 7, 0, 0], [9, 2, 4, 11, 0], [1, 0, 0, 0, 0]])


def test_text_ig_in_embedding_space_is_complete_and_equals_layer_ig() -> None:
    model, ids, target = TinyText().eval(), text_ids(), torch.tensor([0, 2, 1])
    forward = EmbeddingForward(model)
    assert find_embedding(model) is model.embed
    emb, pad = forward.embed(ids), forward.embed(torch.zeros_like(ids))
    (attr,) = integrated_gradients(forward, (emb,), (pad,), target, extra=(ids,), n_steps=50)
    delta = convergence_delta(forward, (emb,), (pad,), (attr,), target, extra=(ids,))
    gap = (
        model(ids).gather(1, target[:, None])[:, 0]
        - forward(pad.expand_as(emb), ids)[torch.arange(3), target]
    )
    assert (delta.abs() / gap.abs().clamp(min=1e-3)).max() < 1e-2
    theirs = LayerIntegratedGradients(model, model.embed).attribute(
        ids, torch.zeros_like(ids), target=target, n_steps=50
    )
    assert torch.allclose(attr, theirs, atol=1e-4)
    assert attr.sum(-1)[ids == 0].abs().max() == 0  # padding tokens get no credit


def test_dict_inputs_get_one_attribution_each() -> None:
    torch.manual_seed(8)
    a, b = nn.Linear(4, 3), nn.Linear(6, 3)

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = a, b

        def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
            logits: torch.Tensor = torch.tanh(self.a(x["left"])) * self.b(x["right"])
            return logits

    model = Two().eval()
    left, right = torch.randn(5, 4), torch.randn(5, 6)
    target = torch.tensor([0, 1, 2, 0, 1])
    zeros = (torch.zeros(1, 4), torch.zeros(1, 6))
    ours = integrated_gradients(DictForward(model, ("left", "right")), (left, right), zeros, target)
    theirs = IntegratedGradients(lambda p, q: model({"left": p, "right": q})).attribute(
        (left, right), zeros, target=target, n_steps=50
    )
    for o, t in zip(ours, theirs, strict=True):
        assert torch.allclose(o, t, atol=1e-4)


def test_inference_copy_folds_batch_norm_and_computes_the_same_function() -> None:
    model = small_cnn().train()
    fast = inference_copy(model)
    assert model.training and not fast.training
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = images()
    model.eval()
    assert torch.allclose(fast(x), model(x), atol=1e-5)
    (a,) = integrated_gradients(fast, (x,), (torch.zeros(1, 1, 8, 8),), TARGET)
    (b,) = integrated_gradients(model, (x,), (torch.zeros(1, 1, 8, 8),), TARGET)
    assert torch.allclose(a, b, atol=1e-5)
