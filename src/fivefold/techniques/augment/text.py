"""Token-level text augmentations on (B, L) int64 ids, right-padded with 0.

Padding and special tokens ([CLS], [SEP] of a WordPiece backbone) are never changed, moved
past each other or pushed out: deletions compact the row to the left and insertions only use
free padding slots, so every row keeps its special tokens and its padding at the end.
Character typos need word strings: for a word vocabulary every known word gets a few typo'd
spellings up front (mapped back to ids, mostly [UNK]), which the op then draws from. The edits
themselves are the token edits of :mod:`fivefold.transforms.text`; this module knows the
vocabulary (special ids, sampling weights, typo table).

Reference: Wei & Zou, "EDA: Easy Data Augmentation Techniques for Boosting Performance on
Text Classification Tasks", EMNLP 2019; Belinkov & Bisk, "Synthetic and Natural Noise Both
Break Neural Machine Translation", ICLR 2018 (character noise).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from fivefold.data.task import TextEncoder
from fivefold.data.text import WordVocab
from fivefold.transforms import text as edits

__all__ = [
    "TEXT_OPS",
    "TextVocab",
    "char_typo",
    "token_mask",
    "word_delete",
    "word_insert",
    "word_replace",
    "word_swap",
]

TYPOS_PER_WORD = 4


@dataclass(frozen=True)
class TextVocab:
    """What the text ops know about the token ids.

    Attributes:
        protected: (V,) bool, ids never touched (padding and special tokens).
        mask_id: id written by ``token_mask`` ([MASK], or [UNK] for a word vocabulary).
        weights: (V,) sampling weights of replacement and insertion ids (training counts).
        typos: (V, TYPOS_PER_WORD) ids of typo'd spellings per id, or None.
    """

    protected: torch.Tensor
    mask_id: int
    weights: torch.Tensor
    typos: torch.Tensor | None = None

    @classmethod
    def of(
        cls, encoder: TextEncoder | None, train_ids: torch.Tensor, vocab_size: int, seed: int
    ) -> TextVocab:
        """Build from the task's encoder and its (N, L) training ids."""
        size = max(vocab_size, int(train_ids.max()) + 1 if train_ids.numel() else 1, 2)
        special, mask_id = _special_ids(encoder)
        protected = torch.zeros(size, dtype=torch.bool)
        protected[[i for i in special if i < size]] = True
        weights = torch.bincount(train_ids.flatten(), minlength=size).double()[:size]
        weights[protected] = 0.0
        if isinstance(encoder, WordVocab):
            weights[1] = 0.0  # never insert [UNK] as a "word"
        if float(weights.sum()) == 0.0:
            weights = (~protected).double()
        typos = _typo_table(encoder, size, seed) if isinstance(encoder, WordVocab) else None
        return cls(protected, mask_id, weights, typos)


def _special_ids(encoder: TextEncoder | None) -> tuple[set[int], int]:
    """Padding + special ids and the mask id, found by encoding empty and special strings."""
    if encoder is None or isinstance(encoder, WordVocab):
        return {0}, 1
    special = {0, *encoder([""])[0].tolist()}

    def single(token: str) -> int | None:
        ids = [i for i in encoder([token])[0].tolist() if i not in special]
        return ids[0] if len(ids) == 1 else None

    mask = single("[MASK]")
    unk = single("[UNK]")
    return special, mask if mask is not None else (unk if unk is not None else 1)


def _typo_table(vocab: WordVocab, size: int, seed: int) -> torch.Tensor:
    """(V, TYPOS_PER_WORD) ids of typo'd spellings of each known word (unknown → [UNK])."""
    rng = random.Random(seed)
    table = torch.arange(size).unsqueeze(1).repeat(1, TYPOS_PER_WORD)
    for word, idx in vocab.index.items():
        if idx < size and word:
            table[idx] = torch.tensor(
                [vocab.index.get(edits.letter_edit(word, rng), 1) for _ in range(TYPOS_PER_WORD)]
            )
    return table


def word_delete(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Delete each word with probability ``strength``; a row keeps at least one word."""
    return edits.delete_tokens(ids, strength, gen, vocab.protected)


def word_swap(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Swap neighbouring words: each word swaps with the next with probability ≈ ``strength``."""
    return edits.swap_tokens(ids, strength, gen, vocab.protected)


def word_insert(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Insert a vocabulary word before each word with probability ``strength`` (free slots only)."""
    return edits.insert_tokens(ids, strength, gen, vocab.protected, vocab.weights)


def word_replace(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Replace each word with probability ``strength`` by a word drawn by training frequency."""
    return edits.replace_tokens(ids, strength, gen, vocab.protected, vocab.weights)


def token_mask(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Replace each token with probability ``strength`` by [MASK] ([UNK] for word vocabularies)."""
    return edits.mask_tokens(ids, strength, gen, vocab.protected, vocab.mask_id)


def char_typo(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Misspell each word with probability ``strength`` (one character edit, re-looked-up)."""
    if vocab.typos is None:
        return ids.clone()
    return edits.substitute_tokens(ids, strength, gen, vocab.protected, vocab.typos)


TEXT_OPS = {
    "word_delete": word_delete,
    "word_swap": word_swap,
    "word_insert": word_insert,
    "word_replace": word_replace,
    "token_mask": token_mask,
    "char_typo": char_typo,
}
