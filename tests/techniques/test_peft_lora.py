"""LoRA through HF peft: parameter counts, identity at initialisation, merging and targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.models import build_model, prepare_task
from fivefold.models.base import MODELS, Classifier
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.peft_methods.lora import lora_layers, merge_lora
from fivefold.training.checkpoint import load_weights
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext

MODEL_CASES = [
    ("image", "cnn"),
    ("sequence", "cnn"),
    ("sequence", "transformer"),
    ("tabular", "mlp"),
    ("text", "text"),
    ("text", "transformer"),
]


def peft(**options: Any) -> Any:
    return TECHNIQUES.spec({"technique": "peft", **options}, "recipe").instantiate()


def context(seed: int = 0, **train: Any) -> FitContext:
    cfg = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False, **train}, "t")
    return FitContext(cfg, seed)


def default_model(kind: str, name: str) -> tuple[Classifier, Task]:
    spec = MODELS.spec_of(name, build(MODELS.get(name).config_cls, {}, "model"))
    task = prepare_task(spec, tiny_task(kind))
    torch.manual_seed(0)
    return build_model(spec, task), task


def toy_model() -> Classifier:
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6))
    return Classifier(body, 6, 3)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomise_lora_b(model: nn.Module) -> None:
    """B starts at zero; give it values so merging has something to fold in."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or "lora_embedding_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("r", [1, 4])
def test_lora_adds_r_times_din_plus_dout_per_linear(r: int) -> None:
    model = toy_model()
    before = n_params(model)
    ctx = context()
    model = peft(r=r).adapt_model(model, ctx)
    expected = r * (5 + 7) + r * (7 + 6)  # two encoder Linears; the head is not adapted
    assert n_params(model) - before == expected
    report = ctx.extras["peft"]
    assert report["params_added"] == expected
    assert report["layers"] == ["encoder.0", "encoder.2"]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert report["params_trainable"] == trainable == expected + 6 * 3 + 3
    assert report["params_total"] == n_params(model)
    assert all(p.requires_grad for p in model.head.parameters())
    assert isinstance(model.head, nn.Linear) and type(model.head) is nn.Linear


def test_lora_conv_and_embedding_parameter_counts() -> None:
    # peft's conv LoRA: A is a conv with the layer's kernel (c_in -> r), B a 1x1 conv (r -> c_out)
    body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv1d(2, 5, 5), nn.Embedding(11, 4))
    model = Classifier(body, 4, 2)
    before = n_params(model)
    r = 3
    model = peft(r=r, target="all").adapt_model(model, context())
    conv2d = r * 3 * 3 * 3 + 8 * r
    conv1d = r * 2 * 5 + 5 * r
    embedding = r * (11 + 4)
    assert n_params(model) - before == conv2d + conv1d + embedding
    only_conv = peft(r=r, target="conv").adapt_model(Classifier(body_copy(), 4, 2), context())
    assert set(lora_layers(only_conv)) == {"encoder.0", "encoder.1"}


def body_copy() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv1d(2, 5, 5), nn.Embedding(11, 4))


@pytest.mark.parametrize(("kind", "name"), MODEL_CASES)
def test_lora_leaves_outputs_unchanged_at_init(kind: str, name: str) -> None:
    model, task = default_model(kind, name)
    model.eval()
    with torch.no_grad():
        before = model(task.test.x)
    rng = torch.get_rng_state()
    adapted = peft(r=4).adapt_model(model, context())
    assert torch.equal(torch.get_rng_state(), rng), "LoRA initialisation used the global stream"
    assert lora_layers(adapted)
    with torch.no_grad():
        after = adapted.eval()(task.test.x)
    # the transformer takes PyTorch's unfused attention path once hooks are attached
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("kind", "name"), MODEL_CASES)
def test_merge_then_unmerge_is_identity(kind: str, name: str) -> None:
    model, task = default_model(kind, name)
    model = peft(r=4).adapt_model(model, context()).eval()
    randomise_lora_b(model)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        unmerged = model(task.test.x)
        for layer in lora_layers(model).values():
            layer.merge()
        merged = model(task.test.x)
        for layer in lora_layers(model).values():
            layer.unmerge()
        again = model(task.test.x)
    torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, unmerged, rtol=1e-4, atol=1e-5)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=1e-6)


def test_merged_linear_weight_is_w_plus_scaled_ba() -> None:
    model = peft(r=2, alpha=6).adapt_model(toy_model(), context())
    randomise_lora_b(model)
    layer = lora_layers(model)["encoder.0"]
    w = layer.base_layer.weight.detach().clone()
    a = layer.lora_A["default"].weight.detach()
    b = layer.lora_B["default"].weight.detach()
    merged = merge_lora(model)
    expected = w + (6 / 2) * (b @ a)
    torch.testing.assert_close(merged.encoder[0].weight.detach(), expected)
    assert type(merged.encoder[0]) is nn.Linear


def run_fit(task: Task, model: nn.Module, tmp: Path | None, **options: Any) -> Any:
    techniques = [peft(**options)]
    cfg = {"checkpoint": tmp is not None, "epochs": 1}
    ctx = context(seed=3, **cfg)
    ctx.techniques, ctx.workdir = techniques, tmp
    torch.manual_seed(3)
    return compose_fit(techniques, fit)(model, task, ctx)


@pytest.mark.parametrize(("kind", "name"), [("tabular", "mlp"), ("sequence", "transformer")])
def test_merge_option_exports_a_plain_model_with_the_same_outputs(
    kind: str, name: str, tmp_path: Path
) -> None:
    model, task = default_model(kind, name)
    plain_keys = set(model.state_dict())
    merged = run_fit(task, model, tmp_path, merge=True, r=4)
    unmerged = run_fit(task, default_model(kind, name)[0], None, merge=False, r=4)
    assert not lora_layers(merged.model)
    assert set(merged.model.state_dict()) == plain_keys
    assert merged.extras["peft"]["merged"] is True
    assert unmerged.extras["peft"]["merged"] is False
    with torch.no_grad():
        out_merged = merged.model.eval()(task.test.x)
        out_unmerged = unmerged.model.eval()(task.test.x)
        fresh = load_weights(default_model(kind, name)[0], tmp_path / "model.safetensors")
        out_loaded = fresh.eval()(task.test.x)
    torch.testing.assert_close(out_merged, out_unmerged, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out_loaded, out_merged, rtol=0, atol=0)


def test_lora_trains_only_factors_and_head() -> None:
    model, task = default_model("tabular", "mlp")
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    head = model.head.weight.detach().clone()
    result = run_fit(task, model, None, r=4)
    state = result.model.state_dict()
    for key, value in frozen.items():
        base_key = key.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        now = state[key] if key in state else state[base_key]
        assert torch.equal(now, value), f"{key} changed"
    assert not torch.equal(result.model.head.weight, head)
    factors = [v for k, v in state.items() if "lora_B" in k]
    assert factors and all(bool(f.abs().sum() > 0) for f in factors), "B never trained"


def test_targets_by_type_and_name() -> None:
    model, _ = default_model("sequence", "transformer")
    ctx = context()
    peft(target="linear", modules=["linear2$"]).adapt_model(model, ctx)
    assert ctx.extras["peft"]["layers"] == [
        "encoder.body.encoder.layers.0.linear2",
        "encoder.body.encoder.layers.1.linear2",
    ]
    model, _ = default_model("sequence", "transformer")
    ctx = context()
    peft(target="linear").adapt_model(model, ctx)
    layers = ctx.extras["peft"]["layers"]
    assert "encoder.body.encoder.layers.0.self_attn" in layers  # attention adapted as a whole
    assert not any("out_proj" in n or n.startswith("head") for n in layers)
    assert "encoder.body.tokens.proj" not in layers  # a Conv1d: not a "linear" target


def test_lr_scale_covers_every_trained_parameter() -> None:
    model = toy_model()
    ctx = context()
    ctx.lr_scale["encoder.0.weight"] = 0.5  # an earlier technique's multiplier survives renaming
    model = peft(r=2, lr_scale=10.0).adapt_model(model, ctx)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n, s in ctx.lr_scale.items() if s == 10.0} == trained
    assert ctx.lr_scale["encoder.0.base_layer.weight"] == 0.5
    ctx = context()
    model = peft(r=2, lr_scale=10.0, head_lr_scale=200.0).adapt_model(toy_model(), ctx)
    assert {n for n, s in ctx.lr_scale.items() if s == 200.0} == {"head.weight", "head.bias"}
    assert {n for n, s in ctx.lr_scale.items() if s == 10.0} == {
        n for n, p in model.named_parameters() if p.requires_grad and "lora_" in n
    }


def test_same_seed_same_factors_and_bad_targets() -> None:
    a = peft(r=2).adapt_model(toy_model(), context(seed=5))
    b = peft(r=2).adapt_model(toy_model(), context(seed=5))
    c = peft(r=2).adapt_model(toy_model(), context(seed=6))
    key = "encoder.0.lora_A.default.weight"
    assert torch.equal(a.state_dict()[key], b.state_dict()[key])
    assert not torch.equal(a.state_dict()[key], c.state_dict()[key])
    with pytest.raises(ConfigError, match="no layer"):
        peft(modules=["nothing_named_so"]).adapt_model(toy_model(), context())
    with pytest.raises(ConfigError, match="regular expression"):
        peft(modules=["("]).adapt_model(toy_model(), context())
    gru, _ = default_model("sequence", "gru")
    with pytest.raises(ConfigError, match="bitfit"):
        peft().adapt_model(gru, context())
