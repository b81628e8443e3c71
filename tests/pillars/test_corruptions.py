"""Natural corruptions: shape, dtype and bounds kept, seeded, identity at severity 0, one-hot kept,
and accuracy of a trained digits CNN falls with severity."""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.data.text import WordVocab
from fivefold.pillars.robustness.corruptions import (
    CORRUPTIONS,
    SEVERITY_PARAMETERS,
    corrupt,
    corruption_names,
)
from fivefold.pillars.robustness.corruptions_signal import time_warp
from fivefold.pillars.robustness.corruptions_text import TEXT_CORRUPTIONS, corrupt_texts
from fivefold.pillars.robustness.evaluate import available_corruptions, corrupt_split
from fivefold.seeding import torch_generator
from fivefold.transforms.text import one_edit

IMAGE = ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))
WIDE_IMAGE = ModalityInfo("image", (3, 6, 10), bounds=(-1.0, 2.0))
SEQUENCE = ModalityInfo("sequence", (2, 30))
TABULAR = ModalityInfo("tabular", (7,), categorical=((2, 3, 4), (5, 6)))
INFOS = {"image": IMAGE, "sequence": SEQUENCE, "tabular": TABULAR}
ALL = [(kind, name) for kind, table in CORRUPTIONS.items() for name in table]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tabular(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = _gen(seed)
    numeric = torch.randn(n, 2, generator=g)
    a = nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).float()
    b = nn.functional.one_hot(torch.randint(0, 2, (n,), generator=g), 2).float()
    return torch.cat([numeric, a, b], dim=1)


def _inputs(kind: str, n: int = 16) -> torch.Tensor:
    if kind == "tabular":
        return _tabular(n)
    return torch.rand(n, *INFOS[kind].shape, generator=_gen()) * (1 if kind == "image" else 5)


def _one_hot_ok(x: torch.Tensor) -> bool:
    for group in TABULAR.categorical:
        block = x[:, list(group)]
        if not (((block == 0) | (block == 1)).all() and (block.sum(1) <= 1).all()):
            return False
    return True


@pytest.mark.parametrize(("kind", "name"), ALL)
@pytest.mark.parametrize("severity", range(6))
def test_shape_dtype_bounds_and_seed(kind: str, name: str, severity: int) -> None:
    x, info = _inputs(kind), INFOS[kind]
    out = CORRUPTIONS[kind][name](x, severity, _gen(1), info)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    if info.bounds:
        assert out.min() >= info.bounds[0] and out.max() <= info.bounds[1]
    if kind == "tabular":
        assert _one_hot_ok(out)
    torch.testing.assert_close(out, CORRUPTIONS[kind][name](x, severity, _gen(1), info))
    if severity == 0:
        torch.testing.assert_close(out, x)
    else:
        assert not torch.equal(out, x), f"{kind}/{name} at severity {severity} changed nothing"


def test_every_corruption_has_five_severities_and_bad_severities_fail() -> None:
    assert all(len(p) == 5 for table in SEVERITY_PARAMETERS.values() for p in table.values())
    with pytest.raises(ValueError, match="severity"):
        CORRUPTIONS["image"]["contrast"](_inputs("image"), 6, _gen(), IMAGE)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(CORRUPTIONS["image"])),
    severity=st.integers(1, 5),
    low=st.floats(-3, 3),
    span=st.floats(0.1, 10),
    size=st.tuples(st.integers(1, 3), st.integers(2, 12), st.integers(2, 12)),
    seed=st.integers(0, 2**31),
)
def test_images_stay_in_any_bounds(
    name: str, severity: int, low: float, span: float, size: tuple[int, int, int], seed: int
) -> None:
    info = ModalityInfo("image", size, bounds=(low, low + span))
    x = low + span * torch.rand(5, *size, generator=_gen(seed))
    out = corrupt(x, info, name, severity, _gen(seed))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= low and out.max() <= low + span


def test_float64_inputs_keep_their_dtype() -> None:
    x = _inputs("sequence").double()
    assert corrupt(x, SEQUENCE, "time_warp", 3, _gen()).dtype == torch.float64


def test_other_modalities_pass_through_and_names_are_ordered() -> None:
    x = _inputs("image")
    torch.testing.assert_close(corrupt(x, IMAGE, "time_warp", 3, _gen()), x)
    names = corruption_names({"a": SEQUENCE, "b": TABULAR})
    assert names[:5] == list(CORRUPTIONS["sequence"]) and "category_flip" in names
    assert names.count("gaussian_noise") == 1


def test_category_flip_switches_to_another_category_and_keeps_numbers() -> None:
    x = _tabular(2000)
    out = CORRUPTIONS["tabular"]["category_flip"](x, 5, _gen(), TABULAR)
    torch.testing.assert_close(out[:, :2], x[:, :2])
    changed = (out[:, 2:5] != x[:, 2:5]).any(1).float().mean()
    assert 0.4 < changed < 0.6  # p = 0.5, always to a different category
    assert (out[:, 2:5].sum(1) == 1).all() and (out[:, 5:].sum(1) == 1).all()


def test_missing_values_zero_numbers_and_whole_groups() -> None:
    x = _tabular(2000)
    out = CORRUPTIONS["tabular"]["missing_values"](x, 3, _gen(), TABULAR)
    assert 0.15 < (out[:, :2] == 0).float().mean() < 0.25  # p = 0.2
    group = out[:, 2:5]
    assert ((group.sum(1) == 0) | (group == x[:, 2:5]).all(1)).all()
    assert 0.15 < (group.sum(1) == 0).float().mean() < 0.25


def test_tabular_noise_leaves_one_hot_columns() -> None:
    x = _tabular()
    out = CORRUPTIONS["tabular"]["gaussian_noise"](x, 5, _gen(), TABULAR)
    torch.testing.assert_close(out[:, 2:], x[:, 2:])
    assert not torch.equal(out[:, :2], x[:, :2])


def test_time_warp_is_monotone_with_fixed_ends() -> None:
    ramp = torch.linspace(0, 1, 50).repeat(8, 2, 1)
    out = time_warp(ramp, 0.4, _gen(), SEQUENCE)
    assert (out.diff(dim=-1) >= -1e-6).all()
    torch.testing.assert_close(out[..., [0, -1]], ramp[..., [0, -1]])


def test_masking_zeroes_the_stated_fraction() -> None:
    x = torch.ones(10, 2, 40)
    out = CORRUPTIONS["sequence"]["masking"](x, 5, _gen(), SEQUENCE)
    assert ((out == 0).float().mean(dim=(1, 2)) == 0.4).all()


@pytest.mark.parametrize("name", sorted(TEXT_CORRUPTIONS))
def test_text_corruptions_seeded_identity_and_growing(name: str) -> None:
    texts = ["the quick brown fox jumps over the lazy dog again and again"] * 40
    assert corrupt_texts(texts, name, 0, _gen()) == texts
    mild, strong = (corrupt_texts(texts, name, s, _gen()) for s in (1, 5))
    assert mild == corrupt_texts(texts, name, 1, _gen())
    changed = [sum(t != c for t, c in zip(texts, out, strict=True)) for out in (mild, strong)]
    assert changed[1] >= changed[0] and changed[1] > 20
    assert all(t.split() for t in strong)


def test_one_edit_changes_text_a_little() -> None:
    rng = random.Random(0)
    text = "a fine and moving film"
    edits = [one_edit(text, rng) for _ in range(50)]
    assert sum(e != text for e in edits) > 40
    assert all(abs(len(e) - len(text)) <= len("moving") + 1 for e in edits)


def test_text_and_multi_input_splits_are_corrupted_per_input() -> None:
    texts = ("good fun movie", "bad boring plot", "great acting", "awful mess")
    vocab = WordVocab.fit(texts * 2, max_len=6)
    x = vocab(texts)
    text_task = Task(
        "t",
        {"test": Split(x, torch.arange(4) % 2, texts=texts)},
        {"x": vocab.info()},
        ("a", "b"),
        text_encoder=vocab,
    )
    split = text_task.test
    assert available_corruptions(text_task, split) == list(TEXT_CORRUPTIONS)
    out = corrupt_split(split, text_task, "word_deletion", 5, seed=0)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == torch.int64
    pair = {"a": torch.rand(6, 2, 30), "b": torch.rand(6, 1, 30)}
    infos = {"a": SEQUENCE, "b": ModalityInfo("sequence", (1, 30))}
    pair_task = Task("p", {"test": Split(pair, torch.zeros(6, dtype=torch.long))}, infos, ("c",))
    shifted = corrupt_split(pair_task.test, pair_task, "gaussian_noise", 3, seed=0)
    assert isinstance(shifted, dict)
    assert all(s.shape == pair[k].shape and not torch.equal(s, pair[k]) for k, s in shifted.items())


@pytest.fixture(scope="module")
def digits_model(
    trained_digits_cnn: tuple[nn.Module, torch.Tensor, torch.Tensor],
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN trained for about a second on scikit-learn digits in [0, 1]."""
    return trained_digits_cnn


@pytest.mark.parametrize("name", sorted(CORRUPTIONS["image"]))
def test_accuracy_falls_with_severity(
    name: str, digits_model: tuple[nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = digits_model
    with torch.no_grad():
        acc = [
            float(
                (model(corrupt(x, IMAGE, name, s, torch_generator(0, name, s))).argmax(1) == y)
                .float()
                .mean()
            )
            for s in range(6)
        ]
    assert acc[0] > 0.9
    assert all(b <= a + 0.03 for a, b in itertools.pairwise(acc)), acc
    assert acc[5] < acc[0] - 0.05, acc
