"""The ssl technique: caching, canonical pool order, loss decrease, linear probe, RNG hygiene."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from support import tiny_task
from torch import nn

from fivefold.data.config import DataConfig
from fivefold.data.splits import make_splits
from fivefold.data.task import Split, Task
from fivefold.errors import ConfigError
from fivefold.models import build_model, default_model_name, prepare_task
from fivefold.models.base import MODELS, Classifier
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.ssl import build_objective, pretrain_encoder
from fivefold.techniques.ssl.cache import canonical_pool, pool_inputs
from fivefold.techniques.ssl.pretrain import recalibrate_norms, reinitialise, run_pretraining
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext, FitResult

TRAIN = build(TrainConfig, {"epochs": 2, "batch_size": 16, "checkpoint": False}, "train")


def model_for(task: Task, seed: int = 0) -> tuple[Classifier, Task]:
    name = default_model_name(task)
    spec = MODELS.spec_of(name, build(MODELS.get(name).config_cls, {}, "model"))
    task = prepare_task(spec, task)
    torch.manual_seed(seed)
    return build_model(spec, task), task


def ssl_options(**options: Any) -> Any:
    raw = {"technique": "ssl", "epochs": 2, "batch_size": 16, "decoder_hidden": 16, **options}
    return TECHNIQUES.spec(raw, "recipe").config


def run_ssl(
    task: Task, cache: Path | None, seed: int = 0, inner: Any = fit, **options: Any
) -> tuple[FitResult, dict[str, Any]]:
    technique = TECHNIQUES.spec(
        {"technique": "ssl", "epochs": 2, "batch_size": 16, "decoder_hidden": 16, **options},
        "recipe",
    ).instantiate()
    model, task = model_for(task, seed)
    ctx = FitContext(TRAIN, seed, [technique], cache_dir=cache, cache_key="tiny")
    result = technique.wrap_fit(inner)(model, task, ctx)
    return result, result.extras["ssl"]


def test_second_call_hits_the_cache_and_a_new_config_misses(tmp_path: Path) -> None:
    task = tiny_task("image")
    first, facts = run_ssl(task, tmp_path)
    assert facts["cache_hit"] is False
    second, facts = run_ssl(task, tmp_path)
    assert facts["cache_hit"] is True
    assert facts["loss_curve"] == first.extras["ssl"]["loss_curve"]
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), "a cache hit trains exactly as the miss did"
    _, facts = run_ssl(task, tmp_path, mask_ratio=0.3)
    assert facts["cache_hit"] is False
    _, facts = run_ssl(task, tmp_path, method="contrastive")
    assert facts["cache_hit"] is False
    _, facts = run_ssl(task, tmp_path, finetune="linear")
    assert facts["cache_hit"] is True, "the fine-tuning mode does not change pretraining"
    assert len(list((tmp_path / "ssl").glob("*.safetensors"))) == 3
    assert not list((tmp_path / "ssl").glob("*.tmp"))


def test_trial_seeds_share_one_pretraining(tmp_path: Path) -> None:
    task = tiny_task("tabular")
    _, facts = run_ssl(task, tmp_path, seed=1)
    _, again = run_ssl(task, tmp_path, seed=2)
    assert facts["cache_hit"] is False and again["cache_hit"] is True


def split_with_fraction(fraction: float) -> Task:
    base = tiny_task("image", n=120)
    x = torch.cat([s.x for s in base.splits.values()])  # type: ignore[misc]
    y = torch.cat([s.y for s in base.splits.values()])
    cfg = build(DataConfig, {"label_fraction": fraction}, "data")
    splits = make_splits(Split(x, y), None, cfg, 3)
    return Task("tiny", splits, base.inputs, base.class_names)


def test_pool_order_does_not_depend_on_the_label_fraction(tmp_path: Path) -> None:
    tasks = [split_with_fraction(f) for f in (1.0, 0.5, 0.1)]
    assert len(tasks[2].train) < len(tasks[1].train) < len(tasks[0].train)
    raw = [pool_inputs(t)["x"] for t in tasks]
    assert not torch.equal(raw[0], raw[1]), "the unsorted pools differ in order"
    pools = [canonical_pool(pool_inputs(t))["x"] for t in tasks]
    assert torch.equal(pools[0], pools[1]) and torch.equal(pools[0], pools[2])
    # and therefore every fraction reuses the first fraction's pretraining
    hits = [run_ssl(t, tmp_path)[1]["cache_hit"] for t in tasks]
    assert hits == [False, True, True]


def test_canonical_order_is_a_permutation_sorted_by_content() -> None:
    x = torch.randn(30, 4)
    shuffled = x[torch.randperm(30, generator=torch.Generator().manual_seed(0))]
    a, b = canonical_pool({"x": x})["x"], canonical_pool({"x": shuffled})["x"]
    assert torch.equal(a, b)
    assert sorted(map(tuple, a.tolist())) == sorted(map(tuple, x.tolist()))


@pytest.mark.parametrize(("kind", "method"), [("image", "masked"), ("image", "contrastive")])
def test_pretraining_lowers_its_own_loss(kind: str, method: str) -> None:
    model, task = model_for(tiny_task(kind))
    cfg = ssl_options(method=method, lr=3e-3)
    pool = canonical_pool(pool_inputs(task))
    reinitialise(model.encoder, 0)
    objective = build_objective(cfg, task, pool, model.feature_dim)

    def evaluate(encoder: nn.Module, head: nn.Module) -> float:
        encoder.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            return float(head(encoder, pool, torch.Generator().manual_seed(123)))

    before = evaluate(copy.deepcopy(model.encoder), copy.deepcopy(objective))
    run_pretraining(
        model.encoder, objective, pool, epochs=25, batch_size=16, lr=3e-3, weight_decay=0, seed=0
    )
    after = evaluate(model.encoder, objective)
    assert after < 0.9 * before, f"{method}: {before:.3f} → {after:.3f}"


def test_linear_probe_leaves_the_encoder_bit_identical(tmp_path: Path) -> None:
    seen: dict[str, torch.Tensor] = {}

    def spy(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        return fit(model, task, ctx)

    result, _ = run_ssl(tiny_task("image"), tmp_path, inner=spy, finetune="linear")
    after = result.model.state_dict()
    encoder_keys = [k for k in seen if k.startswith("encoder.")]
    assert any("running_mean" in k for k in encoder_keys), "the CNN has batch-norm statistics"
    for key in encoder_keys:
        assert torch.equal(seen[key], after[key]), f"{key} changed in the linear probe"
    assert not torch.equal(seen["head.weight"], after["head.weight"]), "the head trains"


def test_full_fine_tuning_trains_the_encoder(tmp_path: Path) -> None:
    seen: dict[str, torch.Tensor] = {}

    def spy(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        return fit(model, task, ctx)

    result, _ = run_ssl(tiny_task("image"), tmp_path, inner=spy)
    first_conv = next(k for k in seen if k.startswith("encoder.") and k.endswith("weight"))
    assert not torch.equal(seen[first_conv], result.model.state_dict()[first_conv])


def test_pretraining_leaves_the_global_random_state_alone(tmp_path: Path) -> None:
    model, task = model_for(tiny_task("sequence"))
    ctx = FitContext(TRAIN, 0, cache_dir=tmp_path, cache_key="k")
    state = torch.get_rng_state()
    pretrain_encoder(model.encoder, model.feature_dim, task, ctx, ssl_options())
    assert torch.equal(state, torch.get_rng_state())


def test_a_model_without_an_encoder_is_a_config_error() -> None:
    technique = TECHNIQUES.spec({"technique": "ssl"}, "recipe").instantiate()
    task = tiny_task("tabular")
    ctx = FitContext(TRAIN, 0)
    with pytest.raises(ConfigError, match="encoder"):
        technique.wrap_fit(fit)(nn.Linear(7, 3), task, ctx)


def test_batch_norm_statistics_are_re_estimated_on_the_clean_pool() -> None:
    conv = nn.Conv2d(1, 3, 3, padding=1)
    encoder = nn.Sequential(conv, nn.BatchNorm2d(3), nn.Flatten())
    encoder[1].running_mean.fill_(5.0)  # type: ignore[operator]  # stale, as after pretraining
    pool = {"x": torch.randn(32, 1, 4, 4, generator=torch.Generator().manual_seed(0))}
    recalibrate_norms(encoder, pool, batch_size=8, single=True)
    with torch.no_grad():
        h = conv(pool["x"])  # (N, 3, 4, 4)
        batches = h.view(4, 8, 3, 16).transpose(1, 2).reshape(4, 3, -1)  # (batches, C, values)
    assert torch.allclose(encoder[1].running_mean, h.mean(dim=(0, 2, 3)), atol=1e-6)
    mean_of_vars = batches.var(dim=2, correction=1).mean(dim=0)
    assert torch.allclose(encoder[1].running_var, mean_of_vars, atol=1e-5)
    assert encoder[1].momentum == 0.1 and not encoder.training
