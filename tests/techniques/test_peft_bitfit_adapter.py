"""BitFit and bottleneck adapters: what trains, what stays bit-identical, identity at init."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from support import tiny_task
from torch import nn

from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.models import build_model, prepare_task
from fivefold.models.base import MODELS, Classifier
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.peft_methods.adapters import Bottleneck
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext


def peft(**options: Any) -> Any:
    return TECHNIQUES.spec({"technique": "peft", **options}, "recipe").instantiate()


def default_model(kind: str, name: str) -> tuple[Classifier, Task]:
    spec = MODELS.spec_of(name, build(MODELS.get(name).config_cls, {}, "model"))
    task = prepare_task(spec, tiny_task(kind))
    torch.manual_seed(0)
    return build_model(spec, task), task


def train(model: nn.Module, task: Task, **options: Any) -> tuple[nn.Module, dict[str, Any]]:
    technique = peft(**options)
    cfg = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False}, "train")
    ctx = FitContext(cfg, 0, [technique])
    torch.manual_seed(0)
    result = compose_fit([technique], fit)(model, task, ctx)
    return result.model, result.extras["peft"]


def is_bias(name: str) -> bool:
    return name.rsplit(".", maxsplit=1)[-1].startswith("bias")


@pytest.mark.parametrize(
    ("kind", "name"), [("tabular", "mlp"), ("image", "cnn"), ("sequence", "gru")]
)
def test_bitfit_changes_only_biases_and_head(kind: str, name: str) -> None:
    model, task = default_model(kind, name)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model, report = train(model, task, method="bitfit")
    after = dict(model.named_parameters())
    assert set(after) == set(before)
    biases = [n for n in before if is_bias(n) and not n.startswith("head.")]
    assert biases
    for n, old in before.items():
        if n.startswith("head.") or is_bias(n):
            assert not torch.equal(after[n], old), f"{n} did not train"
        else:
            assert torch.equal(after[n], old), f"{n} changed"
    direct = sum(before[n].numel() for n in before if is_bias(n) or n.startswith("head."))
    assert report["params_trainable"] == direct
    assert report["params_added"] == 0


def reference_adapter(h: torch.Tensor, adapter: Bottleneck, channel_axis: int) -> torch.Tensor:
    """``h + up(gelu(down(h)))`` written with explicit sums over the feature axis."""
    wd, bd = adapter.down.weight, adapter.down.bias  # (m, D), (m,)
    wu, bu = adapter.up.weight, adapter.up.bias  # (D, m), (D,)
    z = h.transpose(channel_axis, -1)  # features last
    hidden = F.gelu((z.unsqueeze(-2) * wd).sum(-1) + bd)  # (..., m)
    out = (hidden.unsqueeze(-2) * wu).sum(-1) + bu  # (..., D)
    return h + out.transpose(channel_axis, -1)


@pytest.mark.parametrize(
    ("kind", "name", "layer", "axis"),
    [
        ("tabular", "mlp", "encoder.body.0", -1),
        ("image", "cnn", "encoder.body.blocks.0", 1),
        ("text", "text", "encoder.body.embed", -1),
    ],
)
def test_adapter_is_identity_at_init_and_matches_a_reference(
    kind: str, name: str, layer: str, axis: int
) -> None:
    model, task = default_model(kind, name)
    model.eval()
    with torch.no_grad():
        plain = model(task.test.x)
    before = sum(p.numel() for p in model.parameters())
    adapted = peft(method="adapter", bottleneck=3).adapt_model(
        model, FitContext(build(TrainConfig, {}, "train"), 0)
    )
    with torch.no_grad():
        assert torch.equal(adapted(task.test.x), plain)
    target = adapted.get_submodule(layer)
    adapter = target.get_submodule("peft_adapter")
    assert isinstance(adapter, Bottleneck)
    assert torch.count_nonzero(adapter.up.weight) == 0
    widths = [width_of(m) for m in adapted.modules() if hasattr(m, "peft_adapter")]
    added = sum(p.numel() for p in adapted.parameters()) - before
    assert added == sum(2 * d * 3 + 3 + d for d in widths)
    with torch.no_grad():  # a trained-looking adapter against the explicit formula
        adapter.up.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
        adapter.up.bias.fill_(0.1)
        captured: list[torch.Tensor] = []
        handle = target.register_forward_hook(lambda m, i, o: captured.append(o))
        adapted(task.test.x)
        handle.remove()
    raw = target.__class__.forward(target, *_inputs_of(adapted, target, task))
    torch.testing.assert_close(captured[0], reference_adapter(raw, adapter, axis))


def width_of(layer: nn.Module) -> int:
    if isinstance(layer, nn.Linear):
        return layer.out_features
    if isinstance(layer, nn.Conv1d | nn.Conv2d):
        return layer.out_channels
    assert isinstance(layer, nn.Embedding)
    return layer.embedding_dim


def _inputs_of(model: nn.Module, target: nn.Module, task: Task) -> tuple[torch.Tensor]:
    seen: list[torch.Tensor] = []
    handle = target.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        model(task.test.x)
    handle.remove()
    return (seen[0],)


def test_adapters_train_only_adapters_and_head() -> None:
    model, task = default_model("tabular", "mlp")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model, report = train(model, task, method="adapter", bottleneck=4)
    after = dict(model.named_parameters())
    new = [n for n in after if n not in before]
    assert new and all(".peft_adapter." in n for n in new)
    for n, old in before.items():
        if n.startswith("head."):
            assert not torch.equal(after[n], old)
        else:
            assert torch.equal(after[n], old), f"{n} changed"
    assert any(not torch.equal(after[n], torch.zeros_like(after[n])) for n in new if ".up." in n)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    added = sum(after[n].numel() for n in new)
    assert report["params_trainable"] == trainable == added + model.head.weight.numel() + 3
    assert report["params_added"] == added
    assert report["layers"] == ["encoder.body.0", "encoder.body.3"]


def test_invalid_combinations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="merge"):
        TECHNIQUES.spec({"technique": "peft", "method": "bitfit", "merge": True}, "r")
    with pytest.raises(ConfigError, match="bitfit"):
        TECHNIQUES.spec({"technique": "peft", "method": "bitfit", "modules": ["x"]}, "r")
    with pytest.raises(ConfigError, match="method"):
        TECHNIQUES.spec({"technique": "peft", "method": "prefix"}, "r")
