"""Input fusion: early (channel) fusion when kinds and shapes agree, flattening otherwise."""

from __future__ import annotations

import pytest
import torch

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import ConfigError
from fivefold.models import MODELS, build_model, default_model_name
from fivefold.models.inputs import Standardize, fuse_inputs


def task_of(inputs: dict[str, ModalityInfo], n: int = 4) -> Task:
    """A task with random inputs of the given kinds (token ids for text)."""
    gen = torch.Generator().manual_seed(0)
    xs = {
        k: torch.randint(0, i.vocab_size, (n, *i.shape), generator=gen)
        if i.kind == "text"
        else torch.rand((n, *i.shape), generator=gen)
        for k, i in inputs.items()
    }
    x = xs["x"] if list(xs) == ["x"] else xs
    split = Split(x, torch.arange(n) % 2)
    return Task("fused", {"train": split, "val": split, "test": split}, inputs, ("a", "b"))


def seq(channels: int, length: int, names: tuple[str, ...] = ()) -> ModalityInfo:
    return ModalityInfo("sequence", (channels, length), feature_names=names)


def test_single_input_passes_through_unchanged() -> None:
    task = task_of({"x": seq(3, 20)})
    adapter, info = fuse_inputs(task)
    assert adapter(task.train.x) is task.train.x
    assert info == task.inputs["x"]


def test_sequences_of_one_length_concatenate_channels_in_sorted_key_order() -> None:
    task = task_of({"gyro": seq(3, 20, ("x", "y", "z")), "acc": seq(2, 20, ("u", "v"))})
    adapter, info = fuse_inputs(task)
    x = task.train.x
    assert isinstance(x, dict)
    fused = adapter(x)
    assert fused.shape == (4, 5, 20)
    assert torch.equal(fused[:, :2], x["acc"]) and torch.equal(fused[:, 2:], x["gyro"])
    assert info.kind == "sequence" and info.shape == (5, 20)
    assert info.feature_names == ("acc.u", "acc.v", "gyro.x", "gyro.y", "gyro.z")


def test_images_of_one_size_concatenate_channels_and_join_bounds() -> None:
    rgb = ModalityInfo("image", (3, 8, 8), bounds=(0.0, 1.0))
    depth = ModalityInfo("image", (1, 8, 8), bounds=(-1.0, 1.0))
    _, info = fuse_inputs(task_of({"rgb": rgb, "depth": depth}))
    assert (info.kind, info.shape, info.bounds) == ("image", (4, 8, 8), (-1.0, 1.0))


def test_mismatched_inputs_flatten_into_one_vector() -> None:
    table = ModalityInfo("tabular", (5,), categorical=((0, 1, 2),))
    task = task_of({"a_image": ModalityInfo("image", (1, 4, 4)), "b_table": table})
    adapter, info = fuse_inputs(task)
    x = task.train.x
    assert isinstance(x, dict)
    fused = adapter(x)
    assert fused.shape == (4, 21)
    assert torch.equal(fused[:, 16:], x["b_table"])
    assert (info.kind, info.shape) == ("tabular", (21,))
    assert info.categorical == ((16, 17, 18),)  # the table's one-hot group, shifted


def test_flatten_is_forced_for_the_mlp() -> None:
    task = task_of({"a": seq(3, 20), "b": seq(3, 20)})
    _, info = fuse_inputs(task, flatten=True)
    assert (info.kind, info.shape) == ("tabular", (120,))
    model = build_model(MODELS.spec("mlp"), task)
    assert model(task.train.x).shape == (4, 2)


def test_text_concatenates_tokens_only_within_one_vocabulary() -> None:
    title = ModalityInfo("text", (6,), vocab_size=30)
    body = ModalityInfo("text", (10,), vocab_size=30)
    _, info = fuse_inputs(task_of({"title": title, "body": body}))
    assert (info.kind, info.shape, info.vocab_size) == ("text", (16,), 30)
    other = ModalityInfo("text", (10,), vocab_size=31)
    with pytest.raises(ConfigError, match="same vocabulary"):
        fuse_inputs(task_of({"title": title, "body": other}))


def test_models_that_cannot_fuse_say_so() -> None:
    task = task_of({"a": seq(3, 20), "b": seq(3, 30)})
    with pytest.raises(ConfigError, match=r"'cnn' cannot fuse inputs a \(sequence \(3, 20\)\)"):
        build_model(MODELS.spec("cnn"), task)
    assert build_model(MODELS.spec("mlp"), task)(task.train.x).shape == (4, 2)
    assert default_model_name(task) == "mlp"


def test_text_without_vocabulary_is_a_config_error() -> None:
    task = task_of({"x": ModalityInfo("text", (8,), vocab_size=2)})
    task = Task("novocab", task.splits, {"x": ModalityInfo("text", (8,))}, task.class_names)
    with pytest.raises(ConfigError, match="needs the vocabulary size"):
        build_model(MODELS.spec("text"), task)


def test_standardize_uses_fixed_training_statistics() -> None:
    task = task_of({"b": seq(2, 30), "a": seq(3, 30)}, n=16)
    x = task.train.x
    assert isinstance(x, dict)
    x = {k: 5.0 + 3.0 * v for k, v in x.items()}  # far from standardised
    task = task.with_splits(train=Split(x, task.train.y))
    adapter, _ = fuse_inputs(task)
    norm = Standardize.fit(adapter, task)
    z = norm(adapter(x))  # (N, 5, 30)
    torch.testing.assert_close(z.mean(dim=(0, 2)), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2), correction=0), torch.ones(5), atol=1e-5, rtol=0)
    assert set(norm.state_dict()) == {"mean", "std"}  # saved with the model's weights
    assert not any(True for _ in norm.parameters())  # never trained
