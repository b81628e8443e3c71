"""The ``augment`` technique end to end, and mixup/cutmix against their definitions.

Mixup targets must equal λ·onehot(y) + (1 − λ)·onehot(y[perm]) with the inputs mixed by the
same λ; CutMix's λ must be the exact share of the input that was kept; the same seed and step
must give the same batch and another seed another batch; the batch given and the global RNG
are left untouched; user errors are one-line ConfigErrors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support import tiny_task

from fivefold.data.task import ModalityInfo, Task
from fivefold.errors import ConfigError
from fivefold.seeding import torch_generator
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.augment import Augment, make_plan, mixing
from fivefold.techniques.augment.policy import augment_batch
from fivefold.training.config import TrainConfig
from fivefold.training.hooks import Batch, FitContext

KINDS = ("image", "sequence", "tabular", "text")


def technique(**options: object) -> Augment:
    spec = TECHNIQUES.spec({"technique": "augment", **options}, "recipe")
    aug = spec.instantiate()
    assert isinstance(aug, Augment)
    return aug


def planned(aug: Augment, task: Task, seed: int = 0) -> Augment:
    aug.plan_ = make_plan(aug.config, task, seed)
    return aug


def context(seed: int, step: int) -> FitContext:
    ctx = FitContext(TrainConfig(), seed)
    ctx.step = step
    return ctx


def first_batch(task: Task, n: int = 24) -> Batch:
    return Batch(task.train.x[:n], task.train.y[:n])  # type: ignore[index]


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_shape_dtype_bounds_and_no_side_effects(kind: str) -> None:
    task = tiny_task(kind)
    aug = planned(technique(p=0.9), task)
    batch = first_batch(task)
    x0 = batch.x.clone()  # type: ignore[union-attr]
    state = torch.get_rng_state()
    a = aug.adapt_batch(batch, torch.nn.Identity(), context(0, 5))
    b = aug.adapt_batch(batch, torch.nn.Identity(), context(0, 5))
    c = aug.adapt_batch(batch, torch.nn.Identity(), context(1, 5))
    d = aug.adapt_batch(batch, torch.nn.Identity(), context(0, 6))
    assert torch.equal(torch.get_rng_state(), state), "the global RNG stream was disturbed"
    assert torch.equal(batch.x, x0), "the batch was modified in place"  # type: ignore[arg-type]
    assert isinstance(a.x, torch.Tensor) and isinstance(b.x, torch.Tensor)
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.x, d.x)  # type: ignore[arg-type]
    assert a.x.shape[1:] == x0.shape[1:] and a.x.dtype == x0.dtype
    bounds = task.inputs["x"].bounds
    if bounds is not None:
        assert float(a.x.min()) >= bounds[0] and float(a.x.max()) <= bounds[1]


def test_text_padding_stays_at_the_end_through_the_technique() -> None:
    task = tiny_task("text")
    aug = planned(technique(p=1.0, text_ops=["word_delete", "word_insert", "word_swap"]), task)
    out = aug.adapt_batch(first_batch(task, 48), torch.nn.Identity(), context(0, 0)).x
    assert isinstance(out, torch.Tensor)
    for row in out:
        n = int((row != 0).sum())
        assert bool((row[n:] == 0).all()) and n > 0


def one_sample_per_class(n_classes: int = 6) -> tuple[Task, Batch]:
    """Images whose pixels all equal (class + 1) / 10: every row tells its source apart."""
    task = tiny_task("image")
    info = ModalityInfo("image", (1, 6, 8), bounds=(0.0, 1.0))
    task = Task("t", task.splits, {"x": info}, tuple("abcdef"[:n_classes]))
    y = torch.arange(n_classes)
    x = ((y + 1).float() / 10).view(-1, 1, 1, 1).expand(n_classes, 1, 6, 8).clone()
    return task, Batch(x, y)


@pytest.mark.parametrize("step", range(4))
def test_mixup_targets_and_inputs_follow_the_definition(step: int) -> None:
    task, batch = one_sample_per_class()
    aug = planned(technique(image_ops=[], mixup_alpha=0.4), task)
    out = aug.adapt_batch(batch, torch.nn.Identity(), context(0, step))
    assert out.target is not None and isinstance(out.x, torch.Tensor)
    assert torch.allclose(out.target.sum(1), torch.ones(6))
    paired = [i for i in range(6) if out.target[i, i] < 1]
    assert paired, "a random pairing of 6 samples leaves someone paired with another"
    lam = float(out.target[paired[0], paired[0]])
    onehot = torch.eye(6)
    for i in range(6):
        partner = [j for j in range(6) if j != i and out.target[i, j] > 0]
        j = partner[0] if partner else i  # paired with itself: a one-hot target
        expected = lam * onehot[i] + (1 - lam) * onehot[j]
        assert torch.allclose(out.target[i], expected, atol=1e-6)
        assert torch.allclose(out.x[i], lam * batch.x[i] + (1 - lam) * batch.x[j], atol=1e-6)  # type: ignore[index]
    assert torch.equal(out.y, batch.y), "hard labels stay the sample's own"


@pytest.mark.parametrize("step", range(6))
def test_cutmix_lambda_is_the_exact_kept_area(step: int) -> None:
    task, batch = one_sample_per_class()
    aug = planned(technique(image_ops=[], cutmix_alpha=1.0), task)
    out = aug.adapt_batch(batch, torch.nn.Identity(), context(2, step))
    assert out.target is not None and isinstance(out.x, torch.Tensor)
    for i in range(6):
        kept = float((out.x[i] == batch.x[i]).float().mean())  # type: ignore[index]
        partner = int(out.target[i].argsort()[-2]) if out.target[i, i] < 1 else i
        if partner != i:
            assert abs(float(out.target[i, i]) - kept) < 1e-6
            assert abs(float(out.target[i, partner]) - (1 - kept)) < 1e-6


def test_series_cutmix_cuts_one_shared_time_segment() -> None:
    x = torch.arange(4.0).view(4, 1, 1).expand(4, 2, 50).clone()
    perm = torch.tensor([1, 2, 3, 0])
    out, lam = mixing.cutmix_series(x, perm, 0.7, torch.Generator().manual_seed(0))
    changed = (out != x).any(dim=1)  # (B, T)
    assert torch.equal(changed, changed[:1].expand_as(changed)), "one segment for the batch"
    steps = changed[0].nonzero().flatten()
    assert len(steps) == 15 and bool((steps.diff() == 1).all())
    assert abs(lam - 0.7) < 1e-9


def test_cut_box_area_matches_lambda_without_clipping() -> None:
    g = torch.Generator().manual_seed(0)
    for lam in (0.1, 0.5, 0.9):
        for _ in range(20):
            top, left, bh, bw, exact = mixing.cut_box(32, 32, lam, g)
            assert top >= 0 and top + bh <= 32 and left >= 0 and left + bw <= 32
            assert exact == pytest.approx(1 - bh * bw / 1024)


def test_beta_sampling_is_seeded_and_has_the_beta_moments() -> None:
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = [mixing.beta_sample(0.4, g1) for _ in range(4000)]
    assert a[:10] == [mixing.beta_sample(0.4, g2) for _ in range(10)]
    mean = sum(a) / len(a)
    var = sum((v - mean) ** 2 for v in a) / len(a)
    assert mean == pytest.approx(0.5, abs=0.02)
    assert var == pytest.approx(1 / (4 * (2 * 0.4 + 1)), abs=0.01)  # Beta(α, α) variance


def test_multi_input_series_are_warped_together(tmp_path: Path) -> None:
    task = tiny_task("sequence")
    x = task.train.x
    assert isinstance(x, torch.Tensor)
    two = {"a": x, "b": x.clone()}
    info = task.inputs["x"]
    task2 = Task(
        "two",
        {"train": task.train.__class__(two, task.train.y)},
        {"a": info, "b": info},
        task.class_names,
    )
    cfg = technique(p=1.0, series_ops=["time_warp", "window_slice", "permute"]).config
    plan = make_plan(cfg, task2, 0)
    out = augment_batch(Batch(two, task.train.y), plan, cfg, torch_generator(0, "t"))
    assert isinstance(out.x, dict)
    assert torch.allclose(out.x["a"], out.x["b"], atol=1e-6), "both inputs get the same warp"


def test_smote_adds_minority_rows_with_their_labels() -> None:
    task = tiny_task("tabular")
    keep = torch.cat(
        [torch.nonzero(task.train.y != 2).flatten(), torch.nonzero(task.train.y == 2).flatten()[:4]]
    )
    task = task.with_splits(train=task.train.subset(keep))
    aug = planned(technique(tabular_ops=["smote"], prob={"smote": 1.0}), task)
    batch = Batch(task.train.x, task.train.y)
    out = aug.adapt_batch(batch, torch.nn.Identity(), context(0, 0))
    assert len(out.y) == len(batch.y) + 4
    assert bool((out.y[len(batch.y) :] == 2).all())


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("text", {"mixup_alpha": 0.2}, "float inputs"),
        ("tabular", {"cutmix_alpha": 1.0}, "cutmix needs image or series"),
    ],
)
def test_impossible_options_fail_with_one_line(
    kind: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_plan(technique(**options).config, tiny_task(kind), 0)


def test_bad_op_names_fail_at_parse_time() -> None:
    with pytest.raises(ConfigError, match="unknown op 'rotat'"):
        technique(strength={"rotat": 3.0})
    with pytest.raises(ConfigError, match="image_ops"):
        technique(image_ops=["spin"])
    with pytest.raises(ConfigError, match=r"prob\.rotate"):
        technique(prob={"rotate": 1.5})
